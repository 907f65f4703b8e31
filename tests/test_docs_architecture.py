"""docs/architecture.md names real files and real code: every path it gives exists, and every
``Class.member`` or ``module.name`` it names can be looked up."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "architecture.md").read_text("utf-8")
NAMED = sorted(set(re.findall(r"`([^`\s]+)`", PAGE)))
PACKAGE = ROOT / "src" / "redtrust_middleware"
PLACES = [ROOT, ROOT / "src", PACKAGE, PACKAGE / "cli", ROOT / "integrations"]
#: Named on the page, but not this project's code.
FOREIGN = {"request.session"}
MODULES = [
    "redtrust_middleware",
    "redtrust_middleware.asgi",
    "redtrust_middleware.wsgi",
    "redtrust_middleware.web",
    "redtrust_middleware.client",
    "redtrust_middleware.calls",
    "redtrust_middleware.login",
    "redtrust_middleware.session",
    "redtrust_middleware.session.flows",
    "redtrust_middleware.session.refresh",
    "redtrust_middleware.session.rotation",
    "redtrust_middleware.session.signin",
    "redtrust_middleware.stores",
    "redtrust_middleware.stores.operations",
    "redtrust_middleware._locks",
    "redtrust_django.store",
]


def exists(path: str) -> bool:
    return any((place / path).exists() for place in PLACES) or any(
        (place / "redtrust_middleware" / path).exists() for place in PLACES
    )


def lookup(dotted: str) -> object:
    """``dotted`` as an attribute path from one of :data:`MODULES` (or a module itself)."""
    dotted = dotted.replace("/", ".")
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for candidate in (dotted, f"{module_name}.{dotted}"):
            head, _, _ = candidate.partition(".")
            if candidate.startswith(module_name + "."):
                obj: object = module
                rest = candidate[len(module_name) + 1 :]
            elif hasattr(module, head):
                obj, rest = module, candidate
            else:
                continue
            try:
                for part in rest.split("."):
                    if hasattr(obj, part):
                        obj = getattr(obj, part)
                    elif inspect.isclass(obj) and f"self.{part}: " in inspect.getsource(obj):
                        obj = part  # an attribute every instance gets in __init__
                    else:
                        obj = importlib.import_module(f"{obj.__name__}.{part}")  # type: ignore[attr-defined]
                return obj
            except (AttributeError, ModuleNotFoundError):
                continue
    raise LookupError(dotted)


PATHS = [n for n in NAMED if n.endswith((".py", "/"))]
DOTTED = [
    n.split("(")[0]
    for n in NAMED
    if n not in FOREIGN
    and re.fullmatch(r"[A-Za-z_/]+\.[A-Za-z_.]+(\(.*)?", n)
    and not n.endswith((".py", "/"))
]


def test_the_page_names_code() -> None:
    assert len(PATHS) > 20
    assert len(DOTTED) > 20


@pytest.mark.parametrize("path", PATHS)
def test_every_path_exists(path: str) -> None:
    assert exists(path), f"docs/architecture.md names {path}, which does not exist"


@pytest.mark.parametrize("dotted", DOTTED)
def test_every_named_member_exists(dotted: str) -> None:
    lookup(dotted)
