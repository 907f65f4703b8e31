"""The public namespace is honest, and the core never imports a web framework."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

import redtrust_middleware

PACKAGE_DIR = Path(redtrust_middleware.__file__).parent
FRAMEWORKS = ("django", "starlette", "fastapi", "flask")
#: The framework-agnostic core (the sandbox and the tooling in ``cli/`` are not part of it).
CORE_MODULES = sorted(
    p
    for p in PACKAGE_DIR.rglob("*.py")
    if p.relative_to(PACKAGE_DIR).parts[0] not in ("sandbox", "cli")
)
#: The ``redtrust`` command, the walkthrough and the web demo, shipped with the package.
TOOLING_MODULES = sorted((PACKAGE_DIR / "cli").glob("*.py"))


def public_names() -> set[str]:
    """Names bound in the package namespace, minus private ones and submodules."""
    return {
        name
        for name, value in vars(redtrust_middleware).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_lists_exactly_the_public_names() -> None:
    exported = set(redtrust_middleware.__all__)
    assert exported - {"__version__"} == public_names()


def test_all_has_no_duplicates_and_every_name_exists() -> None:
    names = redtrust_middleware.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(redtrust_middleware, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from redtrust_middleware import *", namespace)  # noqa: S102 - a fixed statement
    namespace.pop("__builtins__")
    assert set(namespace) == set(redtrust_middleware.__all__)


def test_version_is_a_string() -> None:
    assert isinstance(redtrust_middleware.__version__, str)
    assert redtrust_middleware.__version__.count(".") >= 1


def test_the_core_modules_are_found() -> None:
    names = {p.name for p in CORE_MODULES}
    expected = {"exceptions.py", "signing.py", "config.py", "tokens.py", "_http.py"}
    assert (
        expected | {"client.py", "calls.py", "login.py", "_locks.py", "base.py", "memory.py"}
        <= names
    )
    assert {"effects.py", "refresh.py", "managers.py"} <= names
    assert {"asgi.py", "wsgi.py", "web.py"} <= names


def test_the_wsgi_middleware_needs_nothing_but_the_standard_library_and_the_core() -> None:
    import sys

    imported = {m.split(".")[0] for m in imported_modules(PACKAGE_DIR / "wsgi.py")}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    assert redtrust_middleware.RedtrustWSGIMiddleware.__module__ == "redtrust_middleware.wsgi"


def imported_modules(path: Path) -> set[str]:
    """Every module named in an import statement of ``path`` (including nested ones)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.relative_to(PACKAGE_DIR).as_posix())
def test_core_modules_import_no_web_framework(path: Path) -> None:
    for module in imported_modules(path):
        assert module.split(".")[0] not in FRAMEWORKS, f"{path.name} imports {module}"


def test_only_http_module_imports_the_http_library() -> None:
    importers = {p.name for p in CORE_MODULES if "httpx2" in imported_modules(p)}
    assert importers == {"_http.py"}


def absolute_imports(path: Path, *, when_loaded: bool = False) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``from a import b`` as both
    ``a`` and ``a.b`` (``b`` may be a submodule). With ``when_loaded``, only what loading it
    imports: top-level statements, outside ``if TYPE_CHECKING:`` (an import inside a function
    runs later and cannot form a cycle)."""
    package = path.parent.relative_to(PACKAGE_DIR.parent).as_posix().split("/")
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in tree.body if when_loaded else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_tooling_modules_are_found() -> None:
    names = {p.name for p in TOOLING_MODULES}
    assert {"__init__.py", "walkthrough.py", "webdemo.py", "demoapp.py", "pages.py"} <= names


@pytest.mark.parametrize("path", TOOLING_MODULES, ids=lambda p: p.name)
def test_tooling_runs_from_an_installed_package(path: Path) -> None:
    """No web framework (the ``sandbox`` extra brings only uvicorn), nothing from a source
    checkout's ``examples/`` and no private sandbox module."""
    for module in absolute_imports(path):
        parts = module.split(".")
        assert parts[0] not in (*FRAMEWORKS, "examples"), f"{path.name} imports {module}"
        if parts[:2] == ["redtrust_middleware", "sandbox"]:
            assert not any(p.startswith("_") for p in parts[2:]), f"{path.name} imports {module}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_core_sits_below_the_faces_and_its_imports_have_no_cycle() -> None:
    """The core never imports a face, the tooling or the sandbox, and its modules can be
    ordered so that each imports only those before it (see docs/architecture.md)."""
    modules = {module_name(p): p for p in CORE_MODULES if p.name != "testing.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imports = absolute_imports(path, when_loaded=True)
        for module in imports:
            top = module.split(".")
            assert top[0] not in (
                "redtrust_django",
                "redtrust_starlette",
                "redtrust_flask",
                "flask",
            ), f"{name}: {module}"
            assert top[:2] != ["redtrust_middleware", "cli"], f"{name} imports {module}"
            assert top[:2] != ["redtrust_middleware", "sandbox"], f"{name} imports {module}"
        # A module's package __init__ is loaded first; it is not an edge of the module itself.
        graph[name] = {m for m in imports if m in modules and m != name.rpartition(".")[0]}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import cycle: " + " -> ".join((*path, name))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
