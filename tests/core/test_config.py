"""RedtrustConfig: profile defaults from the spec, validation, redaction, ``from_env``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from redtrust_middleware.config import (
    CERTIFICATE_ENROLL,
    PROFILES,
    RA_API,
    Endpoint,
    Profile,
    RedtrustConfig,
)
from redtrust_middleware.exceptions import ConfigurationError, RedtrustError

SECRET = "shared-secret-0123456789-abcdef"
KEY_A = "encryption-key-A-0123456789abcdefghijklmnop"
KEY_B = "encryption-key-B-0123456789abcdefghijklmnop"


def make(**overrides: Any) -> RedtrustConfig:
    """A valid config with a few fields overridden."""
    values: dict[str, Any] = {
        "server_url": "https://redtrust.example",
        "partner": "CA_DEMO",
        "shared_secret": SECRET,
    }
    values.update(overrides)
    return RedtrustConfig(**values)


def rejected(field: str, **overrides: Any) -> ConfigurationError:
    """Build with ``overrides`` and return the ConfigurationError, which must name ``field``."""
    with pytest.raises(ConfigurationError) as caught:
        make(**overrides)
    assert caught.value.field == field, caught.value
    assert isinstance(caught.value, RedtrustError)
    return caught.value


def env(**variables: str) -> dict[str, str]:
    """A complete minimal environment plus ``variables``."""
    base = {
        "REDTRUST_SERVER_URL": "https://redtrust.example",
        "REDTRUST_PARTNER": "CA_DEMO",
        "REDTRUST_SHARED_SECRET": SECRET,
    }
    base.update(variables)
    return base


# --- profiles (expected values written from redtrust-api.md §3 and §6) ---------------------


def test_certificate_enroll_profile_matches_the_tutorial() -> None:
    profile = PROFILES["certificate-enroll"]
    assert profile is CERTIFICATE_ENROLL
    assert profile.default_port == 8083
    assert (profile.exchange.method, profile.exchange.path) == (
        "GET",
        "/authapi/v1/login_by_temp_token",
    )
    assert (profile.refresh.method, profile.refresh.path) == ("PUT", "/authapi/v1/refresh-token")
    assert profile.refresh_sends_bearer is True
    assert profile.logout is None
    assert (profile.login.method, profile.login.path) == ("POST", "/raapi/v1/auth/login")
    assert (profile.csr_create.method, profile.csr_create.path) == ("POST", "/raapi/v1/csr/create")
    assert (profile.csr_finalize.method, profile.csr_finalize.path) == (
        "PUT",
        "/raapi/v1/csr/finalize",
    )


def test_ra_api_profile_matches_the_ra_api_reference() -> None:
    profile = PROFILES["ra-api"]
    assert profile is RA_API
    assert profile.default_port == 8082
    assert (profile.exchange.method, profile.exchange.path) == (
        "POST",
        "/authapi/v1/login_by_temp_token",
    )
    assert (profile.refresh.method, profile.refresh.path) == ("PUT", "/raapi/v1/auth/refresh-token")
    assert profile.refresh_sends_bearer is False
    assert profile.logout is not None
    assert (profile.logout.method, profile.logout.path) == ("DELETE", "/raapi/v1/auth/logout")
    assert (profile.login.method, profile.login.path) == ("POST", "/raapi/v1/auth/login")
    assert (profile.csr_create.method, profile.csr_create.path) == ("POST", "/raapi/v1/csr/create")
    assert (profile.csr_finalize.method, profile.csr_finalize.path) == (
        "PUT",
        "/raapi/v1/csr/finalize",
    )


def test_only_two_profiles_are_shipped() -> None:
    assert set(PROFILES) == {"certificate-enroll", "ra-api"}


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (CERTIFICATE_ENROLL, "https://redtrust.example:8083"),
        (RA_API, "https://redtrust.example:8082"),
    ],
)
def test_default_port_comes_from_the_profile(profile: Profile, expected: str) -> None:
    config = make(profile=profile)
    assert config.server_url == expected
    assert config.url("/authapi/v1/x") == expected + "/authapi/v1/x"


def test_explicit_port_and_path_prefix_are_kept() -> None:
    config = make(server_url="https://redtrust.example:9443/prefix/")
    assert config.server_url == "https://redtrust.example:9443/prefix"


def test_ipv6_server_url_keeps_brackets() -> None:
    assert make(server_url="https://[2001:db8::1]").server_url == "https://[2001:db8::1]:8083"


def test_default_profile_is_certificate_enroll() -> None:
    assert make().profile is CERTIFICATE_ENROLL


def test_endpoint_parse_and_validation() -> None:
    endpoint = Endpoint.parse("  put /custom/refresh ")
    assert (endpoint.method, endpoint.path) == ("PUT", "/custom/refresh")
    assert str(endpoint) == "PUT /custom/refresh"
    for method in ("TRACE", "CONNECT", "get ", ""):
        with pytest.raises(ConfigurationError):
            Endpoint(method=method, path="/x")
    for path in ("x", "", "/a//b", "//host/x", "/a b", "/a?b", "/a#b", "https://h/x"):
        with pytest.raises(ConfigurationError):
            Endpoint(method="GET", path=path)


# --- partner and secret ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"), [("ca_demo", "CA_DEMO"), ("Ca_Demo_2", "CA_DEMO_2"), ("X", "X")]
)
def test_partner_is_upper_cased(given: str, expected: str) -> None:
    assert make(partner=given).partner == expected


@pytest.mark.parametrize("partner", ["", "CA DEMO", "CA-DEMO", "CA:DEMO", "CA.DEMO", "ĆA"])
def test_partner_outside_the_charset_is_rejected(partner: str) -> None:
    rejected("partner", partner=partner)


def test_empty_secret_is_rejected() -> None:
    rejected("shared_secret", shared_secret="")


def test_short_secret_is_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        make(shared_secret="short-secret")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("shared_secret" in r.getMessage() for r in warnings)
    assert all("short-secret" not in r.getMessage() for r in caplog.records)


def test_long_secret_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        make()
    assert not caplog.records


# --- server_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8083", "http://127.0.0.1:8083"),
        ("http://[::1]:8083", "http://[::1]:8083"),
        ("http://localhost:8083", "http://localhost:8083"),
        ("http://localhost", "http://localhost:8083"),
    ],
)
def test_plain_http_is_allowed_for_loopback_with_a_warning(
    url: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        config = make(server_url=url)
    assert config.server_url == expected
    assert any("http" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.parametrize(
    "url",
    [
        "http://redtrust.example",
        "http://10.0.0.1:8083",
        "http://192.168.1.10",
        "http://localhost.evil.example",
        "http://[2001:db8::1]",
        "http://0.0.0.0:8083",
    ],
)
def test_plain_http_is_rejected_for_other_hosts(url: str) -> None:
    rejected("server_url", server_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://redtrust.example?x=1",
        "https://redtrust.example/#frag",
        "https://user@redtrust.example",
        "https://user:pw@redtrust.example",
        "https://:pw@redtrust.example",
        "ftp://redtrust.example",
        "redtrust.example",
        "https://",
        "",
        " https://redtrust.example",
        "https://redtrust.example ",
        "https://redtrust .example",
        "https://redtrust.example\n",
        "https://redtrust.example:99999",
        "https://redtrust.example:port",
    ],
)
def test_bad_server_urls_are_rejected(url: str) -> None:
    rejected("server_url", server_url=url)


def test_public_url_is_normalised_and_builds_the_redirect_url() -> None:
    config = make(public_url="https://app.example/")
    assert config.public_url == "https://app.example"
    assert config.redirect_url == "https://app.example/redtrust/callback"
    assert make().redirect_url is None
    rejected("public_url", public_url="https://app.example/?q=1")


# --- other fields ---------------------------------------------------------------------------


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    rejected("ca_bundle", ca_bundle=str(tmp_path / "missing.pem"))
    rejected("ca_bundle", ca_bundle=str(tmp_path))  # a directory is not a bundle
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert make(ca_bundle=str(bundle)).ca_bundle == str(bundle)


def test_turning_tls_verification_off_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        config = make(verify_tls=False)
    assert config.verify_tls is False
    assert any("TLS" in r.getMessage() for r in caplog.records)
    assert make().verify_tls is True


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("timeout", 0.1, 300),
        ("connect_retries", 0, 5),
        ("max_response_bytes", 1024, 64 * 1024 * 1024),
        ("refresh_leeway", 0, 3600),
        ("pending_login_ttl", 30, 3600),
        ("max_pending_logins", 1, 50),
        ("idle_timeout", 60, 30 * 86400),
        ("absolute_timeout", 60, 90 * 86400),
        ("local_sessions", 100, 10_000_000),
        ("jwt_leeway", 0, 60),
    ],
)
def test_numeric_bounds(field: str, low: float, high: float) -> None:
    assert getattr(make(**{field: low}), field) == low
    assert getattr(make(**{field: high}), field) == high
    below = low - 1 if isinstance(low, int) and low >= 1 else low - 0.01
    for bad in (below, high + 1, float("nan"), float("inf"), True, False, "10", None):
        rejected(field, **{field: bad})


def test_jwt_leeway_is_at_most_a_minute() -> None:
    rejected("jwt_leeway", jwt_leeway=61)


@pytest.mark.parametrize("keys", [("short",), (KEY_A, "x" * 31), ("",)])
def test_encryption_keys_need_32_characters(keys: tuple[str, ...]) -> None:
    rejected("encryption_keys", encryption_keys=keys)


def test_encryption_keys_of_32_characters_are_accepted() -> None:
    assert make(encryption_keys=("k" * 32, KEY_A)).encryption_keys == ("k" * 32, KEY_A)


@pytest.mark.parametrize(
    "algorithms",
    [("HS256",), ("RS256", "HS256"), ("none",), ("None",), (), ("HS512",), ("rs256",), ("ES256K",)],
)
def test_jwt_algorithms_reject_symmetric_and_none(algorithms: tuple[str, ...]) -> None:
    rejected("jwt_algorithms", jwt_algorithms=algorithms)


def test_jwt_algorithms_accept_asymmetric_ones() -> None:
    algorithms = ("RS256", "RS512", "PS384", "ES256", "ES512", "EdDSA")
    assert make(jwt_algorithms=algorithms).jwt_algorithms == algorithms


def test_jwks_must_be_a_key_set() -> None:
    rejected("jwks", jwks={"kty": "EC"})
    rejected("jwks", jwks={"keys": "nope"})
    assert make(jwks={"keys": []}).jwks == {"keys": []}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("consumer", "ra_api"),
        ("consumer", "RA-API"),
        ("domain", ""),
        ("domain", " local.users"),
        ("login_path", "redtrust/login"),
        ("callback_path", "//evil/callback"),
        ("logout_path", "/redtrust/%2e%2e"),
        ("default_next", "https://evil.example"),
        ("default_next", "//evil.example"),
        ("allowed_next_origins", ("http://app.example",)),
        ("allowed_next_origins", ("https://app.example/path",)),
        ("allowed_next_origins", ("app.example",)),
    ],
)
def test_other_fields_are_validated(field: str, value: object) -> None:
    rejected(field, **{field: value})


def test_accepted_consumer_domain_and_origins() -> None:
    config = make(
        consumer="SIGN_SERVICE",
        domain="local.users",
        allowed_next_origins=("https://app.example", "https://other.example:8443/"),
    )
    assert config.consumer == "SIGN_SERVICE"
    assert config.domain == "local.users"


# --- redaction and immutability -------------------------------------------------------------


def test_repr_and_str_never_show_secrets() -> None:
    jwks = {"keys": [{"kty": "oct", "k": "c2VjcmV0LWp3ay1tYXRlcmlhbA"}]}
    config = make(encryption_keys=(KEY_A, KEY_B), jwks=jwks)
    for text in (repr(config), str(config)):
        assert SECRET not in text
        assert KEY_A not in text
        assert KEY_B not in text
        assert "c2VjcmV0LWp3ay1tYXRlcmlhbA" not in text
        assert "CA_DEMO" in text


def test_config_is_frozen() -> None:
    config = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.shared_secret = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.partner = "OTHER"  # type: ignore[misc]


def test_errors_never_contain_the_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        make(server_url="http://evil.example", shared_secret=SECRET)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


# --- from_env -------------------------------------------------------------------------------


def test_from_env_reads_every_variable(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    jwks_file = tmp_path / "jwks.json"
    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}
    jwks_file.write_text(json.dumps(jwks))
    config = RedtrustConfig.from_env(
        {
            "REDTRUST_SERVER_URL": "https://rt.example:9000",
            "REDTRUST_PARTNER": "ca_demo",
            "REDTRUST_SHARED_SECRET": SECRET,
            "REDTRUST_DOMAIN": "local.users",
            "REDTRUST_PROFILE": "ra-api",
            "REDTRUST_PUBLIC_URL": "https://app.example",
            "REDTRUST_CA_BUNDLE": str(bundle),
            "REDTRUST_TIMEOUT": "2.5",
            "REDTRUST_ENCRYPTION_KEYS": f" {KEY_A} ,{KEY_B},, ",
            "REDTRUST_JWKS_FILE": str(jwks_file),
            "REDTRUST_ENDPOINT_LOGOUT": "post /custom/logout",
            "UNRELATED": "ignored",
        }
    )
    assert config.server_url == "https://rt.example:9000"
    assert config.partner == "CA_DEMO"
    assert config.shared_secret == SECRET
    assert config.domain == "local.users"
    assert config.profile.name == "ra-api"
    assert config.profile.exchange.method == "POST"
    assert config.profile.logout is not None
    assert (config.profile.logout.method, config.profile.logout.path) == ("POST", "/custom/logout")
    assert config.public_url == "https://app.example"
    assert config.ca_bundle == str(bundle)
    assert config.timeout == 2.5
    assert config.encryption_keys == (KEY_A, KEY_B)
    assert config.jwks == jwks


def test_from_env_defaults() -> None:
    config = RedtrustConfig.from_env(env())
    assert config.profile == CERTIFICATE_ENROLL
    assert config.server_url == "https://redtrust.example:8083"
    assert config.domain is None
    assert config.timeout == 10.0
    assert config.encryption_keys == ()
    assert config.jwks is None


def test_from_env_keywords_win() -> None:
    config = RedtrustConfig.from_env(env(REDTRUST_TIMEOUT="3"), timeout=7.0, partner="OTHER")
    assert config.timeout == 7.0
    assert config.partner == "OTHER"


@pytest.mark.parametrize(
    "variable", ["REDTRUST_SERVER_URL", "REDTRUST_PARTNER", "REDTRUST_SHARED_SECRET"]
)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_from_env_missing_required_variable_is_named(variable: str, how: str) -> None:
    environ = env()
    if how == "absent":
        del environ[variable]
    else:
        environ[variable] = ""
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(environ)
    assert caught.value.field == variable


def test_from_env_missing_variable_may_come_as_keyword() -> None:
    environ = env()
    del environ["REDTRUST_SHARED_SECRET"]
    assert RedtrustConfig.from_env(environ, shared_secret=SECRET).shared_secret == SECRET


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"REDTRUST_PARTNER": "CA-DEMO"}, "REDTRUST_PARTNER"),
        ({"REDTRUST_SERVER_URL": "http://evil.example"}, "REDTRUST_SERVER_URL"),
        ({"REDTRUST_PUBLIC_URL": "https://app.example?x"}, "REDTRUST_PUBLIC_URL"),
        ({"REDTRUST_CA_BUNDLE": "/nonexistent/ca.pem"}, "REDTRUST_CA_BUNDLE"),
        ({"REDTRUST_DOMAIN": " padded "}, "REDTRUST_DOMAIN"),
        ({"REDTRUST_PROFILE": "tutorial"}, "REDTRUST_PROFILE"),
        ({"REDTRUST_TIMEOUT": "ten"}, "REDTRUST_TIMEOUT"),
        ({"REDTRUST_TIMEOUT": "10s"}, "REDTRUST_TIMEOUT"),
        ({"REDTRUST_JWKS_FILE": "/nonexistent/jwks.json"}, "REDTRUST_JWKS_FILE"),
        ({"REDTRUST_ENDPOINT_REFRESH": "PUT"}, "REDTRUST_ENDPOINT_REFRESH"),
        ({"REDTRUST_ENDPOINT_REFRESH": "FETCH /x"}, "REDTRUST_ENDPOINT_REFRESH"),
        ({"REDTRUST_ENDPOINT_REFRESH": "PUT x"}, "REDTRUST_ENDPOINT_REFRESH"),
        ({"REDTRUST_ENDPOINT_EXCHANGE": "POST //x"}, "REDTRUST_ENDPOINT_EXCHANGE"),
    ],
)
def test_from_env_errors_name_the_variable(variables: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(**variables))
    assert caught.value.field == field


def test_from_env_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(REDTRUST_PROFILE="tutorial"))
    assert "certificate-enroll" in caught.value.problem
    assert "ra-api" in caught.value.problem


def test_from_env_bad_jwks_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(REDTRUST_JWKS_FILE=str(path)))
    assert caught.value.field == "REDTRUST_JWKS_FILE"


@pytest.mark.parametrize(
    ("text", "method", "path"),
    [
        ("PUT /custom/refresh", "PUT", "/custom/refresh"),
        ("put /custom/refresh", "PUT", "/custom/refresh"),
        ("  POST   /a/b-c_d.e  ", "POST", "/a/b-c_d.e"),
    ],
)
def test_from_env_endpoint_refresh_override(text: str, method: str, path: str) -> None:
    config = RedtrustConfig.from_env(env(REDTRUST_ENDPOINT_REFRESH=text))
    assert (config.profile.refresh.method, config.profile.refresh.path) == (method, path)
    # Only the named endpoint changes; the rest of the profile stays as shipped.
    assert config.profile.exchange == CERTIFICATE_ENROLL.exchange
    assert config.profile.default_port == 8083
    assert CERTIFICATE_ENROLL.refresh.path == "/authapi/v1/refresh-token"


def test_from_env_overrides_every_endpoint_by_name() -> None:
    names = ["EXCHANGE", "REFRESH", "LOGIN", "LOGOUT", "CSR_CREATE", "CSR_FINALIZE"]
    variables = {f"REDTRUST_ENDPOINT_{n}": f"PATCH /o/{n.lower()}" for n in names}
    profile = RedtrustConfig.from_env(env(**variables)).profile
    for name in names:
        endpoint = getattr(profile, name.lower())
        assert endpoint == Endpoint(method="PATCH", path=f"/o/{name.lower()}")


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env(REDTRUST_TIMEOUT="4").items():
        monkeypatch.setenv(name, value)
    assert RedtrustConfig.from_env().timeout == 4.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDTRUST_TIMEOUT", "0.01"),
        ("REDTRUST_TIMEOUT", "nan"),
        ("REDTRUST_ENCRYPTION_KEYS", "too-short"),
    ],
)
def test_from_env_out_of_range_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(**{variable: value}))
    assert caught.value.field == variable


def test_from_env_jwks_file_without_keys_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"kty": "EC"}))
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(env(REDTRUST_JWKS_FILE=str(path)))
    assert caught.value.field == "REDTRUST_JWKS_FILE"


def test_a_profile_may_be_given_by_name() -> None:
    base = {"server_url": "https://rt.example", "partner": "CA_DEMO", "shared_secret": "s" * 20}
    assert RedtrustConfig(**base, profile="ra-api").profile.name == "ra-api"  # type: ignore[arg-type]
    assert RedtrustConfig(**base, profile="ra-api").server_url == "https://rt.example:8082"  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig(**base, profile="nope")  # type: ignore[arg-type]
    assert caught.value.field == "profile"
