"""Django's ``REDTRUST`` dict takes every setting of docs/configuration.md by its key.

Values are the table's examples, as a Django user writes them (lists, dicts, booleans).
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings
from tests.settings_table import FROM_URLCONF, ROWS, file_example, python_value

from redtrust_django.conf import read_settings
from redtrust_middleware import ConfigurationError, RedtrustConfig

BASE = {
    "SERVER_URL": "https://redtrust.test",
    "PARTNER": "CA_TEST",
    "SHARED_SECRET": "redtrust-testing-secret-0123456789",
    "PUBLIC_URL": "https://app.test",
}
FIELDS = [f.name for f in dataclasses.fields(RedtrustConfig)]
JWK_SET = {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}
MARKER = "MARKER-0123456789-secret-value-abcdef"


def read(**keys: Any) -> RedtrustConfig:
    with override_settings(REDTRUST={**BASE, **keys}):
        config, _ = read_settings()
    return config


def refused(**keys: Any) -> ConfigurationError:
    with override_settings(REDTRUST={**BASE, **keys}), pytest.raises(ConfigurationError) as caught:
        read_settings()
    return caught.value


@pytest.mark.parametrize("name", FIELDS)
def test_each_documented_key_is_accepted(name: str, tmp_path: Path) -> None:
    row = ROWS.get(name)
    if row is None:
        pytest.fail(f"docs/configuration.md has no row for {name!r}")
    if row.key == FROM_URLCONF:
        assert refused(**{name.upper(): row.example}).field == f"REDTRUST[{name.upper()!r}]"
        return
    if name == "jwks":
        value: Any = JWK_SET
        expected: Any = JWK_SET
    elif file_example(row):
        path = tmp_path / "ca.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n", "utf-8")
        value = expected = str(path)
    elif name == "profile":
        value = expected = row.example
    else:
        value = python_value(name, row.example)
        expected = tuple(value) if isinstance(value, list) else value
    config = read(**{row.key: value})
    held = getattr(config, name)
    assert (held.name if name == "profile" else held) == expected
    assert getattr(read(), name) != held  # not the value it has without the key


@pytest.mark.parametrize(
    ("key", "value", "must"),
    [
        ("VERIFY_TLS", "false", "true or false"),
        ("NONCE_IN_REDIRECT", 0, "true or false"),
        ("TIMEOUT", "10", "number"),
        ("TIMEOUT", True, "number"),
        ("CONNECT_RETRIES", 1.5, "whole number"),
        ("JWT_ALGORITHMS", "ES256", "list"),
        ("ALLOWED_NEXT_ORIGINS", {"https://a.example"}, "list"),
        ("CONSUMER", ["SIGN_SERVICE"], "text"),
        ("PROFILE", "tutorial", "certificate-enroll"),
        ("JWKS", [], "JWK set"),
        ("CONSUMER", "sign-service", "upper case"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_an_example(
    key: str, value: Any, must: str
) -> None:
    error = refused(**{key: value})
    assert error.field == f"REDTRUST[{key!r}]"
    assert must in error.problem
    assert f"; for example {key!r}: " in error.problem


def test_whole_numbers_may_be_written_as_floats() -> None:
    assert read(CONNECT_RETRIES=1.0).connect_retries == 1


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("REFRESH_LEWAY", "REFRESH_LEEWAY"),
        ("consumer", "CONSUMER"),
        ("REDTRUST_TIMEOUT", "TIMEOUT"),
        ("API_PREFIX", "API_PREFIXES"),
        ("NO_SUCH_THING", None),
    ],
)
def test_an_unknown_key_is_named_with_the_closest_one(key: str, hint: str | None) -> None:
    error = refused(**{key: 1})
    assert error.field == f"REDTRUST[{key!r}]"
    assert "is not a Redtrust setting" in error.problem
    if hint is None:
        assert "did you mean" not in error.problem
    else:
        assert error.problem.endswith(f"did you mean {hint!r}?")
    with override_settings(REDTRUST={**BASE, key: 1}):
        (found,) = [m for m in checks.run_checks() if m.id == "redtrust.E002"]
    assert key in found.msg


def test_endpoints_are_named_one_by_one() -> None:
    config = read(PROFILE="ra-api", ENDPOINTS={"refresh": "PUT /custom/refresh"})
    assert str(config.profile.refresh) == "PUT /custom/refresh"
    assert config.profile.name == "ra-api"
    error = refused(ENDPOINTS={"refesh": "PUT /x"})
    assert error.field == "REDTRUST['ENDPOINTS']['refesh']"
    assert "did you mean 'refresh'?" in error.problem
    error = refused(ENDPOINTS={"logout": "DELETE"})
    assert error.field == "REDTRUST['ENDPOINTS']['logout']"
    assert "for example 'DELETE /raapi/v1/auth/logout'" in error.problem
    assert refused(ENDPOINTS=["refresh"]).field == "REDTRUST['ENDPOINTS']"


@pytest.mark.parametrize(
    "keys",
    [
        {"SHARED_SECRET": MARKER.encode()},
        {"SHARED_SECRET": MARKER, "TIMEOUT": "ten"},
        {"ENCRYPTION_KEYS": ["MARKER-short"]},
        {"ENCRYPTION_KEYS": MARKER},
        {"JWKS": {"kty": MARKER}},
    ],
)
def test_errors_never_show_a_secret(keys: dict[str, Any]) -> None:
    error = refused(**keys)
    assert "MARKER" not in "".join(traceback.format_exception(error)) + repr(error)


def test_a_secret_read_from_the_dict_stays_out_of_repr() -> None:
    config = read(SHARED_SECRET=MARKER, JWKS={"keys": [{"k": MARKER}]})
    assert MARKER not in repr(config)
    assert json.dumps(config.jwks).count(MARKER) == 1


def test_the_encryption_key_derived_from_secret_key_is_unchanged() -> None:
    """Sessions sealed before stay readable: the key of a known SECRET_KEY is pinned (from
    ``printf 'redtrust-django/v1:known-django-secret' | openssl sha256``), fallbacks after."""
    pinned = "2a8f530970723dd14c1c3330b20d47be66fd7b9fac4df46c2af0b2922a02e2d4"
    with override_settings(
        REDTRUST=BASE, SECRET_KEY="known-django-secret", SECRET_KEY_FALLBACKS=["", "older"]
    ):
        keys = read_settings()[0].encryption_keys
    assert keys[0] == pinned
    assert len(keys) == 2  # the empty fallback is skipped
