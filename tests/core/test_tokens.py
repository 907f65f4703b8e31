"""Token data: expiry parsing, TokenSet.from_data, claims, and JWT verification."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from redtrust_middleware.exceptions import TokenError
from redtrust_middleware.tokens import TokenSet, TokenVerifier, parse_expiration, read_claims

NOW = 1_800_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPAQUE = "opaque-access-token-value"
REFRESH = "opaque-refresh-token-value"


def at(seconds: float) -> datetime:
    """The aware UTC datetime of a UNIX time, computed without the library."""
    return EPOCH + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    """An ISO-8601 string with a 'Z' zone for a UNIX time."""
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def other_key() -> ECKey:
    return ECKey.generate_key("P-256")


def make_jwt(key: ECKey, claims: Mapping[str, Any], **header: Any) -> str:
    """An ES256 JWT signed with ``key`` by joserfc."""
    return jwt.encode({"alg": "ES256", **header}, dict(claims), key)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_jwt(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """The signing input of a compact JWT (header and payload segments)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hand_signed_es256(key: ECKey, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """An ES256 JWT signed with ``cryptography`` directly (joserfc refuses odd headers)."""
    signing_input = raw_jwt(header, claims)
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def verifier_for(key: ECKey, **options: Any) -> TokenVerifier:
    return TokenVerifier({"keys": [key.as_dict(private=False)]}, algorithms=("ES256",), **options)


# --- parse_expiration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T01:00:00+01:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2029-12-31T19:30:00-04:30", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01 00:00:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00.250Z", datetime(2030, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)),
        (" 2030-01-01T00:00:00Z ", datetime(2030, 1, 1, tzinfo=UTC)),
        (1_900_000_000, at(1_900_000_000)),
        (1_900_000_000.5, at(1_900_000_000.5)),
    ],
)
def test_parse_expiration_accepts(value: object, expected: datetime) -> None:
    parsed = parse_expiration(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "",
        "soon",
        "2030-13-01T00:00:00Z",
        "2030-01-01T00:00:00Z" + " " * 60,
        "2030-01-01T25:00:00",
        0,
        -1,
        1e11,
        10**12,
        float("nan"),
        float("inf"),
        [],
        {},
        b"2030-01-01T00:00:00Z",
    ],
)
def test_parse_expiration_rejects(value: object) -> None:
    with pytest.raises(TokenError):
        parse_expiration(value)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_parse_expiration_rejects_out_of_range_dates_as_token_error(value: str) -> None:
    with pytest.raises(TokenError):
        parse_expiration(value)


def test_parse_expiration_rejects_huge_integers_as_token_error() -> None:
    with pytest.raises(TokenError):
        parse_expiration(10**400)


# --- TokenSet.from_data ---------------------------------------------------------------------


def test_opaque_token_with_expiration(key: ECKey) -> None:
    tokens = TokenSet.from_data(
        {"accessToken": OPAQUE, "refreshToken": REFRESH, "expiration": iso(NOW + 600)}, now=NOW
    )
    assert tokens.access_token == OPAQUE
    assert tokens.refresh_token == REFRESH
    assert tokens.expires_at == at(NOW + 600)
    assert tokens.claims == {}
    assert tokens.subject is None


@pytest.mark.parametrize(("expiration", "exp"), [(NOW + 300, NOW + 900), (NOW + 900, NOW + 300)])
def test_expiry_is_the_earlier_of_expiration_and_exp(key: ECKey, expiration: int, exp: int) -> None:
    token = make_jwt(key, {"sub": "alice", "exp": exp})
    tokens = TokenSet.from_data(
        {"accessToken": token, "refreshToken": REFRESH, "expiration": iso(expiration)}, now=NOW
    )
    assert tokens.expires_at == at(min(expiration, exp))


@pytest.mark.parametrize("expiration", [None, "soon", "", 0, True, "2030-99-99"])
def test_exp_is_the_fallback(key: ECKey, expiration: object) -> None:
    token = make_jwt(key, {"sub": "alice", "exp": NOW + 450})
    data: dict[str, Any] = {"accessToken": token, "refreshToken": REFRESH}
    if expiration is not None:
        data["expiration"] = expiration
    tokens = TokenSet.from_data(data, now=NOW)
    assert tokens.expires_at == at(NOW + 450)


def test_missing_expiration_key_falls_back_to_exp(key: ECKey) -> None:
    token = make_jwt(key, {"exp": NOW + 100})
    assert TokenSet.from_data({"accessToken": token}, now=NOW).expires_at == at(NOW + 100)


@pytest.mark.parametrize(
    "data",
    [
        {"accessToken": OPAQUE},
        {"accessToken": OPAQUE, "expiration": None},
        {"accessToken": OPAQUE, "expiration": "soon"},
        {"accessToken": OPAQUE, "expiration": 1e20},
    ],
)
def test_no_usable_expiry_is_an_error(data: dict[str, Any]) -> None:
    with pytest.raises(TokenError):
        TokenSet.from_data(data, now=NOW)


def test_jwt_without_exp_and_bad_expiration_is_an_error(key: ECKey) -> None:
    for exp in ("tomorrow", True, None, 1e20):
        token = make_jwt(key, {"sub": "alice", "exp": exp})
        with pytest.raises(TokenError):
            TokenSet.from_data({"accessToken": token, "expiration": "soon"}, now=NOW)


@pytest.mark.parametrize(
    "access",
    [None, "", 123, ["a"], {"a": 1}, True, "x" * (16 * 1024 + 1), "tök", "a\nb", "a\x00b", "a\tb"],
)
def test_missing_or_invalid_access_token(access: object) -> None:
    data: dict[str, Any] = {"expiration": iso(NOW + 600), "refreshToken": REFRESH}
    if access is not None:
        data["accessToken"] = access
    with pytest.raises(TokenError) as caught:
        TokenSet.from_data(data, now=NOW)
    if isinstance(access, str) and access:
        assert access not in str(caught.value)


def test_huge_exp_claim_is_a_token_error_not_a_crash(key: ECKey) -> None:
    # A hostile upstream controls the JWT; json.loads reads 400 digits as an int.
    token = raw_jwt({"alg": "ES256"}, {"sub": "alice"}).split(".")[0]
    payload = b64(b'{"sub": "alice", "exp": 1' + b"0" * 400 + b"}")
    data = {"accessToken": f"{token}.{payload}.{b64(b'sig')}", "expiration": iso(NOW + 600)}
    tokens = TokenSet.from_data(data, now=NOW)
    assert tokens.expires_at == at(NOW + 600)


def test_access_token_with_a_space_is_rejected() -> None:
    # RFC 6750 b64token has no space: "Bearer a b" is not a valid Authorization header.
    with pytest.raises(TokenError):
        TokenSet.from_data({"accessToken": "a b", "expiration": iso(NOW + 600)}, now=NOW)


@pytest.mark.parametrize("refresh", ["<absent>", None, ""])
def test_refresh_token_is_kept_from_previous_when_absent(refresh: object) -> None:
    data: dict[str, Any] = {"accessToken": OPAQUE, "expiration": iso(NOW + 600)}
    if refresh != "<absent>":
        data["refreshToken"] = refresh
    tokens = TokenSet.from_data(data, now=NOW, previous_refresh_token="previous-refresh")
    assert tokens.refresh_token == "previous-refresh"
    assert TokenSet.from_data(data, now=NOW).refresh_token is None


def test_a_new_refresh_token_replaces_the_previous_one() -> None:
    data = {"accessToken": OPAQUE, "expiration": iso(NOW + 600), "refreshToken": "rotated"}
    tokens = TokenSet.from_data(data, now=NOW, previous_refresh_token="previous-refresh")
    assert tokens.refresh_token == "rotated"


@pytest.mark.parametrize("refresh", [123, ["x"], True, "r" * (16 * 1024 + 1)])
def test_invalid_refresh_token_is_an_error(refresh: object) -> None:
    data = {"accessToken": OPAQUE, "expiration": iso(NOW + 600), "refreshToken": refresh}
    with pytest.raises(TokenError):
        TokenSet.from_data(data, now=NOW)


@pytest.mark.parametrize("offset", [0, -1, -3600])
def test_already_expired_is_rejected(key: ECKey, offset: int) -> None:
    with pytest.raises(TokenError):
        TokenSet.from_data({"accessToken": OPAQUE, "expiration": iso(NOW + offset)}, now=NOW)
    token = make_jwt(key, {"exp": NOW + offset})
    with pytest.raises(TokenError):
        TokenSet.from_data({"accessToken": token, "expiration": iso(NOW + 600)}, now=NOW)


def test_repr_hides_both_tokens(key: ECKey) -> None:
    token = make_jwt(key, {"sub": "alice", "exp": NOW + 600})
    tokens = TokenSet.from_data({"accessToken": token, "refreshToken": REFRESH}, now=NOW)
    for text in (repr(tokens), str(tokens)):
        assert token not in text
        assert token.split(".")[1] not in text
        assert REFRESH not in text
        assert "alice" not in text


def test_claims_are_readable_and_read_only(key: ECKey) -> None:
    token = make_jwt(key, {"sub": "alice", "exp": NOW + 600, "roles": ["ra"]})
    tokens = TokenSet.from_data({"accessToken": token}, now=NOW)
    assert tokens.claims["sub"] == "alice"
    assert tokens.claims["roles"] == ["ra"]
    assert tokens.subject == "alice"
    with pytest.raises(TypeError):
        tokens.claims["sub"] = "mallory"  # type: ignore[index]


def test_timing_helpers() -> None:
    tokens = TokenSet.from_data({"accessToken": OPAQUE, "expiration": iso(NOW + 100)}, now=NOW)
    assert tokens.expires_in(NOW) == 100
    assert not tokens.is_expired(NOW + 99.5)
    assert tokens.is_expired(NOW + 100)
    assert not tokens.needs_refresh(NOW, leeway=60)
    assert tokens.needs_refresh(NOW + 40, leeway=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tokens.access_token = "other"  # type: ignore[misc]


def test_from_data_with_a_verifier(key: ECKey, other_key: ECKey) -> None:
    verifier = verifier_for(key)
    good = make_jwt(key, {"sub": "alice", "exp": NOW + 600})
    tokens = TokenSet.from_data({"accessToken": good}, now=NOW, verifier=verifier)
    assert tokens.subject == "alice"
    forged = make_jwt(other_key, {"sub": "alice", "exp": NOW + 600})
    with pytest.raises(TokenError):
        TokenSet.from_data(
            {"accessToken": forged, "expiration": iso(NOW + 600)}, now=NOW, verifier=verifier
        )
    with pytest.raises(TokenError):
        TokenSet.from_data(
            {"accessToken": OPAQUE, "expiration": iso(NOW + 600)}, now=NOW, verifier=verifier
        )


# --- read_claims ----------------------------------------------------------------------------


def test_read_claims_of_non_jwts_is_empty() -> None:
    for token in ("opaque", "a.b", "a.b.c", "a.b.c.d", "", "x" * 20_000 + ".a.b"):
        assert read_claims(token) == {}
    assert read_claims(raw_jwt({"alg": "ES256"}, ["not", "an", "object"]) + ".sig") == {}  # type: ignore[arg-type]


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_read_claims_never_raises(token: str) -> None:
    assert isinstance(read_claims(token), Mapping)


@given(
    header=st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.text()),
    payload=st.binary(max_size=64),
)
def test_read_claims_never_raises_on_odd_segments(header: object, payload: bytes) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(payload)}.{b64(b'sig')}"
    assert isinstance(read_claims(token), Mapping)


# --- TokenVerifier --------------------------------------------------------------------------


def test_verifier_accepts_a_valid_es256_token(key: ECKey) -> None:
    token = make_jwt(key, {"sub": "alice", "exp": NOW + 600})
    claims = verifier_for(key).verify(token, now=NOW)
    assert claims["sub"] == "alice"


def test_verifier_rejects_a_token_signed_by_another_key(key: ECKey, other_key: ECKey) -> None:
    token = make_jwt(other_key, {"sub": "alice", "exp": NOW + 600})
    with pytest.raises(TokenError):
        verifier_for(key).verify(token, now=NOW)


def test_verifier_rejects_alg_none(key: ECKey) -> None:
    claims = {"sub": "alice", "exp": NOW + 600}
    for alg in ("none", "None", "NONE"):
        unsigned = raw_jwt({"alg": alg, "typ": "JWT"}, claims)
        for token in (unsigned + ".", unsigned + "." + b64(b"x")):
            with pytest.raises(TokenError):
                verifier_for(key).verify(token, now=NOW)


def test_verifier_rejects_hs256_signed_with_the_public_key(key: ECKey) -> None:
    claims = {"sub": "alice", "exp": NOW + 600}
    signing_input = raw_jwt({"alg": "HS256", "typ": "JWT"}, claims)
    materials = [
        key.as_pem(private=False),
        json.dumps(key.as_dict(private=False)).encode(),
        str(key.as_dict(private=False)["x"]).encode(),
    ]
    for material in materials:
        mac = hmac.new(material, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(TokenError):
            verifier_for(key).verify(f"{signing_input}.{b64(mac)}", now=NOW)


def test_verifier_rejects_a_header_supplied_key(key: ECKey, other_key: ECKey) -> None:
    header = {"jwk": other_key.as_dict(private=False)}
    token = make_jwt(other_key, {"sub": "mallory", "exp": NOW + 600}, **header)
    with pytest.raises(TokenError):
        verifier_for(key).verify(token, now=NOW)


def test_verifier_rejects_unknown_crit_headers(key: ECKey) -> None:
    claims = {"sub": "alice", "exp": NOW + 600}
    plain = hand_signed_es256(key, {"alg": "ES256"}, claims)
    assert verifier_for(key).verify(plain, now=NOW)["sub"] == "alice"
    critical = hand_signed_es256(key, {"alg": "ES256", "crit": ["x-odd"], "x-odd": 1}, claims)
    with pytest.raises(TokenError):
        verifier_for(key).verify(critical, now=NOW)


def test_verifier_rejects_an_algorithm_outside_the_pinned_list(key: ECKey) -> None:
    token = make_jwt(key, {"exp": NOW + 600})
    verifier = TokenVerifier(
        {"keys": [key.as_dict(private=False)]}, algorithms=("RS256",), leeway=0
    )
    with pytest.raises(TokenError):
        verifier.verify(token, now=NOW)


@pytest.mark.parametrize(("age", "accepted"), [(-600, True), (0, True), (29, True), (31, False)])
def test_verifier_expiry_with_leeway(key: ECKey, age: int, accepted: bool) -> None:
    token = make_jwt(key, {"exp": NOW - age})
    verifier = verifier_for(key, leeway=30)
    if accepted:
        assert verifier.verify(token, now=NOW)["exp"] == NOW - age
    else:
        with pytest.raises(TokenError):
            verifier.verify(token, now=NOW)


def test_verifier_requires_exp(key: ECKey) -> None:
    with pytest.raises(TokenError):
        verifier_for(key).verify(make_jwt(key, {"sub": "alice"}), now=NOW)


def test_verifier_checks_the_issuer_when_configured(key: ECKey) -> None:
    verifier = verifier_for(key, issuer="https://redtrust.example")
    good = make_jwt(key, {"iss": "https://redtrust.example", "exp": NOW + 600})
    assert verifier.verify(good, now=NOW)["iss"] == "https://redtrust.example"
    for claims in ({"iss": "https://evil.example"}, {}):
        token = make_jwt(key, {**claims, "exp": NOW + 600})
        with pytest.raises(TokenError):
            verifier.verify(token, now=NOW)
    # Without a configured issuer any issuer is accepted.
    evil = make_jwt(key, {"iss": "https://evil.example", "exp": NOW + 600})
    assert verifier_for(key).verify(evil, now=NOW)["iss"] == "https://evil.example"


def test_verifier_rejects_oversized_tokens(key: ECKey) -> None:
    token = make_jwt(key, {"exp": NOW + 600, "pad": "x" * 16 * 1024})
    assert len(token) > 16 * 1024
    with pytest.raises(TokenError) as caught:
        verifier_for(key).verify(token, now=NOW)
    assert "large" in str(caught.value)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "é.é.é"])
def test_verifier_rejects_garbage(key: ECKey, token: str) -> None:
    with pytest.raises(TokenError):
        verifier_for(key).verify(token, now=NOW)


def test_verifier_errors_never_contain_the_token(key: ECKey, other_key: ECKey) -> None:
    token = make_jwt(other_key, {"sub": "alice", "exp": NOW + 600})
    with pytest.raises(TokenError) as caught:
        verifier_for(key).verify(token, now=NOW)
    assert token not in str(caught.value)
    assert token.split(".")[2] not in repr(caught.value)


@pytest.mark.parametrize("jwks", [{"keys": [{"kty": "nope"}]}, {"keys": "x"}, {}])
def test_verifier_rejects_an_invalid_key_set(jwks: dict[str, Any]) -> None:
    with pytest.raises(TokenError):
        TokenVerifier(jwks, algorithms=("ES256",))


def _skew_token(exp: int, iat: int) -> str:
    from joserfc import jwt as _jwt
    from joserfc.jwk import ECKey as _ECKey

    return _jwt.encode(
        {"alg": "ES256"}, {"exp": exp, "iat": iat, "sub": "u"}, _ECKey.generate_key("P-256")
    )


@pytest.mark.parametrize(
    ("redtrust_offset", "date_offset", "iat_offset", "expected_left"),
    [
        (0, None, 0, 300),  # no Date: iat is Redtrust's "now"
        (-200, 0, 0, 300),  # Redtrust's clock 200 s behind, told by its Date: corrected
        (0, -86_400, 0, 300),  # a day-stale Date is implausible: ignored, iat used
        (0, 86_400, 0, 300),  # so is one a day ahead
        (0, None, -7200, 300),  # iat kept from the original sign-in: ignored, exp as stated
        (-200, None, -7200, 100),  # no plausible reference: the stated expiry, uncorrected
    ],
)
def test_lifetime_is_carried_over_only_from_plausible_server_clocks(
    redtrust_offset: int, date_offset: int | None, iat_offset: int, expected_left: float
) -> None:
    now = 1_800_000_000.0
    redtrust_now = int(now) + redtrust_offset
    token = _skew_token(redtrust_now + 300, redtrust_now + iat_offset)
    date = None if date_offset is None else float(redtrust_now + date_offset)
    tokens = TokenSet.from_data(
        {"accessToken": token, "refreshToken": "r"}, now=now, server_now=date
    )
    assert tokens.expires_in(now) == pytest.approx(expected_left, abs=1)


def test_http_dates_without_a_zone_are_gmt(monkeypatch: pytest.MonkeyPatch) -> None:
    import calendar
    import time

    from redtrust_middleware._http import _parse_date

    monkeypatch.setenv("TZ", "America/New_York")  # a host whose local time is not UTC
    time.tzset()

    expected = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))
    assert _parse_date("Sun Nov  6 08:49:37 1994") == expected
    assert _parse_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert _parse_date("Sun, 06 Nov 1994 08:49:37 -0000") == expected
    assert _parse_date("not a date") is None
    monkeypatch.undo()
    time.tzset()
