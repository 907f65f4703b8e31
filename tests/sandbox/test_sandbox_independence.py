"""The sandbox is an independent oracle: it decides what it accepts with code of its own.

- No sandbox module imports the library's decisions (``signing``, ``certificates``, the
  clients ...): from the library it takes only the clock and the exception tree.
- Its HMAC agrees with ``openssl dgst -sha256 -hmac``, an implementation that shares no code
  with Python's ``hmac``; a login link and headers signed by openssl are accepted.

(That a bug planted in the library's allow-lists or signing meets the sandbox's refusal is
shown in ``tests/certificates/test_sandbox_oracle.py``.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx2
import pytest

import redtrust_middleware.sandbox
from redtrust_middleware.sandbox._signature import partner_hmac

from ._support import (
    EXCHANGE_PATH,
    LOGIN_PATH,
    OPENSSL,
    PARTNER,
    SECRET,
    START,
    envelope_of,
    login_params,
    openssl_hmac,
    token_data,
)

SANDBOX_DIR = Path(redtrust_middleware.sandbox.__file__).parent
PACKAGE = "redtrust_middleware.sandbox"
#: What the sandbox may share with the library: plumbing, never a decision.
SHARED = ("redtrust_middleware._clock", "redtrust_middleware.exceptions")


def _absolute(module: str | None, level: int) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside the sandbox."""
    if level == 0:
        return module or ""
    base = PACKAGE.rsplit(".", level - 1)[0]
    return f"{base}.{module}" if module else base


def library_imports(source: str) -> set[str]:
    """Every ``redtrust*`` module a sandbox source file imports (relative imports resolved;
    ``from .. import x`` counts as module ``..x``; ``import_module("...")`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level)
            if node.module is None:
                found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.add(module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name for name in found if name.startswith("redtrust")}


def is_shared(module: str) -> bool:
    """The sandbox itself, or plumbing it may share with the library."""
    allowed = (PACKAGE, *SHARED)
    return any(module == name or module.startswith(name + ".") for name in allowed)


SANDBOX_MODULES = sorted(SANDBOX_DIR.glob("*.py"))


def test_the_sandbox_modules_are_found() -> None:
    names = {path.name for path in SANDBOX_MODULES}
    assert {"_signature.py", "_csr.py", "_ra.py", "_auth.py", "_enroll.py", "_config.py"} <= names


@pytest.mark.parametrize("path", SANDBOX_MODULES, ids=lambda path: path.name)
def test_no_sandbox_module_imports_a_library_decision(path: Path) -> None:
    imported = library_imports(path.read_text("utf-8"))
    assert {module for module in imported if not is_shared(module)} == set()


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from ..signing import verify", {"redtrust_middleware.signing"}),
        ("from .. import certificates", {"redtrust_middleware.certificates"}),
        ("import redtrust_middleware.client", {"redtrust_middleware.client"}),
        ("from redtrust_middleware import sign", {"redtrust_middleware"}),
        ("def f():\n    from ..certificates import CsrSpec", {"redtrust_middleware.certificates"}),
        ("importlib.import_module('redtrust_middleware.signing')", {"redtrust_middleware.signing"}),
        ("from .._clock import Clock\nfrom ._errors import Reject", set()),
        ("from ..exceptions import ConfigurationError\nfrom . import _csr", set()),
    ],
)
def test_the_import_check_sees_every_spelling(source: str, flagged: set[str]) -> None:
    imported = library_imports(source)
    assert {module for module in imported if not is_shared(module)} == flagged


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


@needs_openssl
@pytest.mark.parametrize(
    ("partner", "timestamp", "secret"),
    [
        ("CA_DEMO", 1744719496, "sandbox-demo-secret-0123456789abcdef"),  # the docs' instant
        ("P", 0, "k"),
        ("PARTNER_9", 999_999_999_999, "ñandú-€-секрет"),  # a secret beyond ASCII: UTF-8 bytes
        ("CA_DEMO", START, "x" * 200),  # longer than SHA-256's block: the key is hashed first
    ],
)
def test_the_sandbox_hmac_agrees_with_openssl(partner: str, timestamp: int, secret: str) -> None:
    expected = openssl_hmac(f"{partner}:{timestamp}", secret)
    assert len(expected) == 64
    assert partner_hmac(partner, timestamp, secret) == expected


@needs_openssl
def test_a_login_link_signed_by_openssl_is_accepted(client: httpx2.Client) -> None:
    signature = openssl_hmac(f"{PARTNER}:{START}", SECRET)
    page = client.get(LOGIN_PATH, params=login_params(hmac=signature))
    assert page.status_code == 200, page.text
    # The signature of the next second does not sign this one.
    later = openssl_hmac(f"{PARTNER}:{START + 1}", SECRET)
    refused = client.get(LOGIN_PATH, params=login_params(hmac=later))
    assert refused.status_code == 401
    assert "INVALID_SIGNATURE" in refused.text


@needs_openssl
def test_headers_signed_by_openssl_are_accepted(
    client: httpx2.Client, sandbox: redtrust_middleware.sandbox.Sandbox
) -> None:
    def headers(signature: str) -> dict[str, str]:
        return {
            "x-partner-name": PARTNER,
            "x-request-timestamp": str(START),
            "x-hmac-signature": signature,
        }

    wrong_secret = openssl_hmac(f"{PARTNER}:{START}", SECRET + "x")
    token = sandbox.issue_temp_token("alice", partner=PARTNER)
    refused = client.post(
        EXCHANGE_PATH, json={"temporalToken": token}, headers=headers(wrong_secret)
    )
    envelope_of(refused, 401, "INVALID_SIGNATURE")
    right = openssl_hmac(f"{PARTNER}:{START}", SECRET)
    answer = client.post(EXCHANGE_PATH, json={"temporalToken": token}, headers=headers(right))
    assert token_data(answer)["accessToken"]
