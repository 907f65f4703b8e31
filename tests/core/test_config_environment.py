"""Settings from the environment: every field by its type, bad values named, secrets hidden.

The text forms are the documented ones (docs/configuration.md): lists comma separated,
booleans true/false/1/0/yes/no/on/off, mappings ``name=value`` pairs. Expected values are
written here, not computed by the reader.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest

from redtrust_middleware import Client, ConfigurationError, RedtrustConfig, SessionManager
from redtrust_middleware._settings import kind_of, read_environ, setting_table
from redtrust_middleware.config import SETTINGS
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_PARTNER,
    TEST_SECRET,
    TEST_SERVER_URL,
    TEST_USERS,
    make_sandbox,
)

BASE = {
    "REDTRUST_SERVER_URL": TEST_SERVER_URL,
    "REDTRUST_PARTNER": TEST_PARTNER,
    "REDTRUST_SHARED_SECRET": TEST_SECRET,
}


def env_error(environ: Mapping[str, str]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env({**BASE, **environ})
    return caught.value


def example_in(error: ConfigurationError) -> str:
    """The valid value an error offers: what follows ``for example VARIABLE=``."""
    marker = f"for example {error.field}="
    assert marker in error.problem, error
    return error.problem.split(marker, 1)[1]


# --- the reader, on a dataclass with every supported type ----------------------------------


@dataclass(frozen=True, kw_only=True)
class Sample:
    text: str
    maybe_text: str | None = None
    count: int = 1
    ratio: float = 1.5
    maybe_ratio: float | None = None
    flag: bool = False
    names: tuple[str, ...] = ()
    sizes: tuple[int, ...] = (2048,)
    tags: frozenset[str] = frozenset()
    oids: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] | None = None
    mode: Literal["fast", "safe"] = "safe"
    token: str = field(default="", repr=False)


SAMPLE = setting_table(Sample, prefix="APP_", special={}, variables={}, examples={})


def read_sample(**variables: str) -> dict[str, Any]:
    return read_environ(SAMPLE, {"APP_TEXT": "t", **variables})


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("APP_TEXT", " kept as is ", " kept as is "),
        ("APP_MAYBE_TEXT", "x", "x"),
        ("APP_COUNT", "7", 7),
        ("APP_COUNT", " 7 ", 7),
        ("APP_COUNT", "-3", -3),
        ("APP_RATIO", "2.5", 2.5),
        ("APP_RATIO", "10", 10.0),
        ("APP_MAYBE_RATIO", "0.25", 0.25),
        *[("APP_FLAG", word, True) for word in ("true", "TRUE", "True", "1", "yes", "On", " on ")],
        *[("APP_FLAG", word, False) for word in ("false", "False", "0", "no", "NO", "off")],
        ("APP_NAMES", "a", ("a",)),
        ("APP_NAMES", " a, b ,,c, ", ("a", "b", "c")),
        ("APP_NAMES", ",", ()),
        ("APP_SIZES", "2048,4096", (2048, 4096)),
        ("APP_TAGS", "x,y,x", frozenset({"x", "y"})),
        (
            "APP_OIDS",
            "pseudonym=2.5.4.65, businessCategory = 2.5.4.15",
            {"pseudonym": "2.5.4.65", "businessCategory": "2.5.4.15"},
        ),
        ("APP_LIMITS", "a=1,b=20", {"a": 1, "b": 20}),
        ("APP_MODE", "fast", "fast"),
        ("APP_TOKEN", "s3cret", "s3cret"),
    ],
)
def test_each_type_is_read_from_its_text_form(variable: str, text: str, expected: Any) -> None:
    name = variable.removeprefix("APP_").lower()
    assert read_sample(**{variable: text})[name] == expected


def test_unset_and_empty_variables_leave_the_default() -> None:
    assert read_sample(APP_COUNT="", APP_FLAG="", APP_NAMES="") == {"text": "t"}


def test_a_required_variable_is_named_when_missing() -> None:
    for environ in ({}, {"APP_TEXT": ""}):
        with pytest.raises(ConfigurationError) as caught:
            read_environ(SAMPLE, environ)
        assert caught.value.field == "APP_TEXT"
        assert caught.value.problem.startswith("is not set; for example APP_TEXT=")


def test_keywords_are_not_read() -> None:
    assert read_environ(SAMPLE, {"APP_COUNT": "nope"}, skip=("text", "count")) == {}


@pytest.mark.parametrize(
    ("variable", "text", "must"),
    [
        ("APP_COUNT", "2.5", "whole number"),
        ("APP_COUNT", "five", "whole number"),
        ("APP_RATIO", "ten", "number"),
        ("APP_RATIO", "10s", "number"),
        ("APP_MAYBE_RATIO", "soon", "number"),
        *[("APP_FLAG", word, "true or false") for word in ("maybe", "2", "y", "treu", "enabled")],
        ("APP_SIZES", "2048,big", "comma-separated list"),
        ("APP_SIZES", "2048;4096", "comma-separated list"),
        ("APP_OIDS", "pseudonym", "name=value"),
        ("APP_OIDS", "=2.5.4.65", "name=value"),
        ("APP_OIDS", "pseudonym=", "name=value"),
        ("APP_OIDS", "cn=2.5.4.3,cn=2.5.4.3", "name=value"),
        ("APP_LIMITS", "a=many", "name=value"),
        ("APP_MODE", "slow", "one of fast, safe"),
    ],
)
def test_a_bad_value_is_named_with_what_it_must_be_and_an_example(
    variable: str, text: str, must: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        read_sample(**{variable: text})
    error = caught.value
    assert error.field == variable
    assert must in error.problem
    if len(text) > 2:
        assert text not in str(error)  # the value received is never echoed
    read_sample(**{variable: example_in(error)})  # the example given is a valid value


def test_the_table_knows_secrets_defaults_and_examples() -> None:
    by_name = {setting.name: setting for setting in SAMPLE}
    assert [s.name for s in SAMPLE] == [f.name for f in dataclasses.fields(Sample)]
    assert {s.name for s in SAMPLE if s.secret} == {"token"}
    assert {s.name for s in SAMPLE if s.required} == {"text"}
    assert by_name["sizes"].example == "2048"  # from the default
    assert by_name["sizes"].variable == "APP_SIZES"
    assert by_name["sizes"].key == "SIZES"


@pytest.mark.parametrize(
    "annotation",
    [
        set[str],
        list[str],
        bytes,
        tuple[str, str],
        tuple[tuple[str, ...], ...],
        Mapping[str, Any],
        Mapping[str, tuple[str, ...]],
        int | str,
        Path,
    ],
)
def test_a_type_with_no_reader_fails_loudly(annotation: Any) -> None:
    with pytest.raises(TypeError, match="no reader"):
        kind_of(annotation)
    odd = dataclasses.make_dataclass("Odd", [("text", str), ("odd", annotation)])
    with pytest.raises(TypeError, match=r"Odd\.odd: no reader"):
        setting_table(odd, prefix="APP_", special={}, variables={}, examples={})


# --- RedtrustConfig: every field --------------------------------------------------------------


def test_every_field_of_the_config_is_a_setting_in_field_order() -> None:
    names = [f.name for f in dataclasses.fields(RedtrustConfig)]
    assert [s.name for s in SETTINGS] == names
    for setting in SETTINGS:
        assert setting.key == setting.name.upper()
        expected = "REDTRUST_JWKS_FILE" if setting.name == "jwks" else f"REDTRUST_{setting.key}"
        assert setting.variable == expected
    assert {s.name for s in SETTINGS if s.secret} >= {"shared_secret", "encryption_keys", "jwks"}
    assert {s.name for s in SETTINGS if s.required} == {"server_url", "partner", "shared_secret"}


#: A value each text field refuses, for the fields that refuse anything.
BAD_TEXT = {
    "server_url": "ftp://redtrust.example",
    "partner": "CA-DEMO",
    "domain": " padded",
    "profile": "tutorial",
    "consumer": "sign-service",
    "public_url": "https://app.example?x=1",
    "login_path": "relative/login",
    "callback_path": "//evil.example/callback",
    "logout_path": "/redtrust/%2e%2e",
    "default_next": "https://evil.example",
    "allowed_next_origins": "http://app.example",
    "ca_bundle": "/nonexistent/ca.pem",
    "encryption_keys": "short-key",
    "jwks": "/nonexistent/jwks.json",
    "jwt_algorithms": "HS256",
    "dn_attributes": "pseudonym=not-an-oid",
    "hash_types": "SHA 256",
    "key_lengths": "DSA-1024",
    "csr_fields": "csr pem",
    "csr_request_code_field": "request code",
    "finalize_request_code_field": "request code",
    "finalize_certificate_field": "the certificate",
    "finalize_id_field": "id?",
    "finalize_thumbprint_field": "thumb print",
}
#: Text fields where any non-empty value is valid.
ANY_TEXT = {"shared_secret", "jwt_issuer"}
#: A value each type refuses whatever the field.
BAD_BY_KIND = {
    "whole number": "five",
    "number": "ten",
    "true or false": "maybe",
    "name=value": "novalue",
}


def bad_text(name: str) -> str | None:
    if name in BAD_TEXT:
        return BAD_TEXT[name]
    must = next(s.kind.must for s in SETTINGS if s.name == name)
    return next((text for kind, text in BAD_BY_KIND.items() if kind in must), None)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_a_bad_value_of_each_setting_names_the_variable(setting: Any) -> None:
    if setting.name in ANY_TEXT:
        return
    text = bad_text(setting.name)
    if text is None:
        pytest.skip(f"no invalid text known for {setting.name}: add one to BAD_TEXT")
    error = env_error({setting.variable: text})
    assert error.field == setting.variable
    if setting.secret:
        assert text not in str(error)
    example = example_in(error)
    if not example.startswith("<") and setting.name not in ("ca_bundle", "jwks"):
        RedtrustConfig.from_env({**BASE, setting.variable: example})  # the example is valid


def test_jwks_is_read_from_a_file_and_the_plain_variable_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": []}), "utf-8")
    assert RedtrustConfig.from_env({**BASE, "REDTRUST_JWKS_FILE": str(path)}).jwks == {"keys": []}
    error = env_error({"REDTRUST_JWKS": '{"keys": []}'})
    assert error.field == "REDTRUST_JWKS"
    assert "REDTRUST_JWKS_FILE" in error.problem


def test_the_new_variables_are_read() -> None:
    config = RedtrustConfig.from_env(
        {
            **BASE,
            "REDTRUST_CONSUMER": "SIGN_SERVICE",
            "REDTRUST_VERIFY_TLS": "off",
            "REDTRUST_NONCE_IN_REDIRECT": "No",
            "REDTRUST_CONNECT_RETRIES": "0",
            "REDTRUST_ALLOWED_NEXT_ORIGINS": "https://a.example, https://b.example",
            "REDTRUST_JWT_ALGORITHMS": "ES256",
            "REDTRUST_IDLE_TIMEOUT": "900",
        }
    )
    assert config.consumer == "SIGN_SERVICE"
    assert config.verify_tls is False
    assert config.nonce_in_redirect is False
    assert config.connect_retries == 0
    assert config.allowed_next_origins == ("https://a.example", "https://b.example")
    assert config.jwt_algorithms == ("ES256",)
    assert config.idle_timeout == 900.0


def test_sign_service_consumer_reaches_the_signed_login_url() -> None:
    sandbox = make_sandbox()
    config = RedtrustConfig.from_env(
        {**BASE, "REDTRUST_CONSUMER": "SIGN_SERVICE", "REDTRUST_PUBLIC_URL": TEST_APP_URL}
    )
    with Client(config, transport=sandbox.transport()) as client:
        sessions = SessionManager(config, client=client)
        start = sessions.begin_login(next_url="/certs", callback_url=config.redirect_url)
        query = parse_qs(urlsplit(start.url).query, keep_blank_values=True)
        assert query["Consumer"] == ["SIGN_SERVICE"]
        assert query["partner"] == [TEST_PARTNER]
        assert {"timestamp", "hmac", "RedirectUrl"} <= set(query)
        # The sandbox, written from Redtrust's documentation, accepts the signed link.
        location = sandbox.sign_in(start.url, "alice", TEST_USERS["alice"])
        done = sessions.complete_login(
            query=urlsplit(location).query, browser_nonces=start.browser_nonces
        )
        session = sessions.get(done.handle)
        assert session is not None
        assert session.tokens.subject == "alice"


# --- secrets ----------------------------------------------------------------------------------

MARKER = "MARKER-0123456789-secret-value-abcdef"


def shown(error: BaseException) -> str:
    """Everything a log or a traceback page would show of an error."""
    return "".join(traceback.format_exception(error)) + repr(error)


def test_secrets_read_from_the_environment_stay_out_of_repr() -> None:
    config = RedtrustConfig.from_env(
        {
            **BASE,
            "REDTRUST_SHARED_SECRET": MARKER,
            "REDTRUST_ENCRYPTION_KEYS": f"{MARKER},x{MARKER}",
        }
    )
    assert config.shared_secret == MARKER
    assert MARKER not in repr(config)
    assert MARKER not in str(config)


@pytest.mark.parametrize(
    "variables",
    [
        {"REDTRUST_SHARED_SECRET": MARKER, "REDTRUST_TIMEOUT": "ten"},
        {"REDTRUST_SHARED_SECRET": MARKER, "REDTRUST_PARTNER": "CA-DEMO"},
        {"REDTRUST_ENCRYPTION_KEYS": "MARKER-short"},
        {"REDTRUST_ENCRYPTION_KEYS": f"{MARKER},MARKER-short"},
    ],
)
def test_errors_never_show_a_secret(variables: dict[str, str]) -> None:
    error = env_error(variables)
    assert "MARKER" not in shown(error)


def test_an_unusable_jwks_file_is_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    for content in (f"{{{MARKER}", json.dumps({"kty": MARKER})):
        path.write_text(content, "utf-8")
        error = env_error({"REDTRUST_JWKS_FILE": str(path)})
        assert error.field == "REDTRUST_JWKS_FILE"
        assert MARKER not in shown(error)
