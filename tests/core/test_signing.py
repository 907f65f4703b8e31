"""The Redtrust HMAC: known answers from ``openssl``, the verifier's strictness, properties."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redtrust_middleware.exceptions import ClockSkewError, SignatureError
from redtrust_middleware.signing import (
    HEADER_PARTNER,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SignedStamp,
    sign,
    signed_stamp,
    verify,
)

OPENSSL = "/usr/bin/openssl"
PARTNER = "CA_DEMO"
SECRET = "a-shared-secret-of-some-length"
NOW = 1_744_719_496


def openssl_hmac(message: str, key: str) -> str:
    """HMAC-SHA256 of ``message`` keyed with ``key`` (UTF-8), as computed by openssl."""
    result = subprocess.run(
        [OPENSSL, "dgst", "-sha256", "-hmac", key, "-r"],
        input=message.encode("utf-8"),
        capture_output=True,
        check=True,
    )
    digest = result.stdout.decode("ascii").split()[0]
    assert re.fullmatch(r"[0-9a-f]{64}", digest), result.stdout
    return digest


def check(**overrides: object) -> int:
    """Call :func:`verify` with a valid triple at NOW, overriding some arguments."""
    arguments: dict[str, object] = {
        "partner": PARTNER,
        "timestamp": str(NOW),
        "signature": openssl_hmac(f"{PARTNER}:{NOW}", SECRET),
        "secret": SECRET,
        "now": float(NOW),
    }
    arguments.update(overrides)
    return verify(**arguments)  # type: ignore[arg-type]


# --- sign: known answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partner", "timestamp", "secret"),
    [
        ("CA_DEMO", 1_744_719_496, "s3cr3t"),
        ("CA_DEMO", 0, "s3cr3t"),
        ("PARTNER_1", 1_800_000_000, "a-much-longer-shared-secret-0123456789"),
        ("X", 9_999_999_999, "k"),
        ("APP", 1, "x"),
        ("CA_DEMO", 1_744_719_496, "clé-secrète-ñ-日本語"),  # a UTF-8 secret
        ("CA_DEMO", 1_744_719_496, "🔑 with spaces"),
    ],
)
def test_sign_matches_openssl(partner: str, timestamp: int, secret: str) -> None:
    assert sign(partner, timestamp, secret) == openssl_hmac(f"{partner}:{timestamp}", secret)


def test_sign_message_format_is_partner_colon_decimal_seconds() -> None:
    expected = openssl_hmac("CA_DEMO:1744719496", "s3cr3t")
    assert sign("CA_DEMO", 1_744_719_496, "s3cr3t") == expected
    # Neither another separator nor milliseconds nor reversed order give the same value.
    for wrong in ("CA_DEMO1744719496", "CA_DEMO:1744719496000", "1744719496:CA_DEMO"):
        assert openssl_hmac(wrong, "s3cr3t") != expected


def test_sign_is_lowercase_hex_of_64_characters() -> None:
    signature = sign(PARTNER, NOW, SECRET)
    assert re.fullmatch(r"[0-9a-f]{64}", signature)


@pytest.mark.parametrize("timestamp", [1.0, 1_744_719_496.0, 1_744_719_496.5, True, False, -1])
def test_sign_refuses_timestamps_that_are_not_non_negative_ints(timestamp: object) -> None:
    with pytest.raises(SignatureError):
        sign(PARTNER, timestamp, SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("partner", ["ca_demo", "Ca_Demo", "", "CA DEMO", "CA-DEMO", "CA:1"])
def test_sign_refuses_partners_outside_upper_case_charset(partner: str) -> None:
    with pytest.raises(SignatureError):
        sign(partner, NOW, SECRET)


# --- signed_stamp ---------------------------------------------------------------------------


@pytest.mark.parametrize("now", [NOW + 0.0, NOW + 0.001, NOW + 0.5, NOW + 0.999999])
def test_signed_stamp_truncates_fractional_seconds(now: float) -> None:
    stamp = signed_stamp(PARTNER, SECRET, now)
    assert stamp.timestamp == NOW
    assert isinstance(stamp.timestamp, int)
    assert stamp.signature == openssl_hmac(f"{PARTNER}:{NOW}", SECRET)


def test_signed_stamp_headers_carry_the_triple() -> None:
    stamp = signed_stamp(PARTNER, SECRET, NOW + 0.7)
    assert stamp.headers() == {
        "x-partner-name": PARTNER,
        "x-request-timestamp": str(NOW),
        "x-hmac-signature": openssl_hmac(f"{PARTNER}:{NOW}", SECRET),
    }
    assert (HEADER_PARTNER, HEADER_TIMESTAMP, HEADER_SIGNATURE) == (
        "x-partner-name",
        "x-request-timestamp",
        "x-hmac-signature",
    )


def test_signed_stamp_repr_hides_the_signature() -> None:
    stamp = signed_stamp(PARTNER, SECRET, NOW)
    text = repr(stamp)
    assert stamp.signature not in text
    assert SECRET not in text
    assert PARTNER in text
    assert str(NOW) in text
    assert isinstance(stamp, SignedStamp)


# --- verify ---------------------------------------------------------------------------------


def test_verify_accepts_a_valid_triple_and_returns_the_timestamp() -> None:
    assert check() == NOW


@pytest.mark.parametrize("offset", [-300, -299, -1, 0, 1, 299, 300])
def test_verify_accepts_timestamps_inside_the_window(offset: int) -> None:
    stamp = NOW + offset
    result = check(timestamp=str(stamp), signature=openssl_hmac(f"{PARTNER}:{stamp}", SECRET))
    assert result == stamp


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_verify_rejects_timestamps_outside_the_window(offset: int) -> None:
    stamp = NOW + offset
    with pytest.raises(ClockSkewError) as caught:
        check(timestamp=str(stamp), signature=openssl_hmac(f"{PARTNER}:{stamp}", SECRET))
    assert caught.value.skew_seconds == offset
    assert caught.value.window_seconds == 300
    assert caught.value.code == "STALE_TIMESTAMP"
    assert isinstance(caught.value, SignatureError)


def test_verify_window_is_configurable() -> None:
    stamp = NOW - 31
    signature = openssl_hmac(f"{PARTNER}:{stamp}", SECRET)
    with pytest.raises(ClockSkewError) as caught:
        check(timestamp=str(stamp), signature=signature, window_seconds=30)
    assert caught.value.skew_seconds == -31
    assert check(timestamp=str(stamp), signature=signature, window_seconds=31) == stamp


def test_verify_rejects_upper_case_hex() -> None:
    signature = openssl_hmac(f"{PARTNER}:{NOW}", SECRET)
    assert signature != signature.upper()
    with pytest.raises(SignatureError) as caught:
        check(signature=signature.upper())
    assert caught.value.code == "INVALID_SIGNATURE"


@pytest.mark.parametrize(
    "timestamp",
    [
        f" {NOW}",
        f"{NOW} ",
        f"{NOW}\n",
        "1_744_719_496",
        f"+{NOW}",
        f"-{NOW}",
        "١٧٤٤٧١٩٤٩٦",  # Arabic-Indic digits: int() would read 1744719496
        "\uff11\uff17\uff14\uff14\uff17\uff11\uff19\uff14\uff19\uff16",  # fullwidth digits
        f"{NOW}.0",
        "1e9",
        "0x67ff0c88",
        "1" * 13,
    ],
)
def test_verify_rejects_timestamps_that_are_not_plain_ascii_digits(timestamp: str) -> None:
    with pytest.raises(SignatureError) as caught:
        check(timestamp=timestamp)
    assert caught.value.code == "INVALID_TIMESTAMP"
    assert not isinstance(caught.value, ClockSkewError)


@pytest.mark.parametrize("missing", ["partner", "timestamp", "signature"])
@pytest.mark.parametrize("value", [None, ""])
def test_verify_rejects_missing_parts(missing: str, value: str | None) -> None:
    with pytest.raises(SignatureError) as caught:
        check(**{missing: value})
    assert caught.value.code == "MISSING_SIGNATURE"


def test_verify_rejects_a_wrong_expected_partner() -> None:
    with pytest.raises(SignatureError) as caught:
        check(expected_partner="OTHER")
    assert caught.value.code == "INVALID_PARTNER"
    assert check(expected_partner=PARTNER) == NOW


def test_verify_rejects_a_malformed_partner() -> None:
    with pytest.raises(SignatureError) as caught:
        check(partner="ca_demo")
    assert caught.value.code == "INVALID_PARTNER"


def test_verify_rejects_a_signature_made_for_another_partner() -> None:
    with pytest.raises(SignatureError) as caught:
        check(partner="OTHER")
    assert caught.value.code == "INVALID_SIGNATURE"


@pytest.mark.parametrize(
    "signature",
    [
        openssl_hmac(f"{PARTNER}:{NOW}", "another-secret"),
        openssl_hmac(f"{PARTNER}:{NOW + 1}", SECRET),
        "0" * 64,
        openssl_hmac(f"{PARTNER}:{NOW}", SECRET)[:-1],
        openssl_hmac(f"{PARTNER}:{NOW}", SECRET) + "0",
        "g" * 64,
    ],
)
def test_verify_rejects_wrong_signatures(signature: str) -> None:
    with pytest.raises(SignatureError) as caught:
        check(signature=signature)
    assert caught.value.code == "INVALID_SIGNATURE"


def test_verify_errors_never_show_the_signature_or_the_secret() -> None:
    signature = openssl_hmac(f"{PARTNER}:{NOW}", SECRET)
    for overrides in ({"secret": "another-secret"}, {"now": float(NOW + 10_000)}):
        with pytest.raises(SignatureError) as caught:
            check(**overrides)
        text = f"{caught.value!s} {caught.value!r}"
        assert signature not in text
        assert SECRET not in text


# --- properties -----------------------------------------------------------------------------

partners = st.from_regex(r"[A-Z0-9_]{1,40}", fullmatch=True)
secrets_text = st.text(min_size=1, max_size=64).filter(lambda s: "\x00" not in s)
timestamps = st.integers(min_value=0, max_value=999_999_999_999)


@given(partner=partners, timestamp=timestamps, secret=st.text(max_size=64))
def test_property_verify_of_sign_round_trips(partner: str, timestamp: int, secret: str) -> None:
    signature = sign(partner, timestamp, secret)
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    result = verify(
        partner=partner,
        timestamp=str(timestamp),
        signature=signature,
        secret=secret,
        now=float(timestamp),
    )
    assert result == timestamp


@given(
    partner=partners,
    timestamp=timestamps,
    secret=st.text(max_size=64),
    position=st.integers(min_value=0, max_value=63),
    replacement=st.characters(codec="utf-8"),
)
def test_property_any_single_character_change_of_the_signature_fails(
    partner: str, timestamp: int, secret: str, position: int, replacement: str
) -> None:
    signature = sign(partner, timestamp, secret)
    if replacement == signature[position]:
        replacement = "0" if signature[position] != "0" else "1"
    tampered = signature[:position] + replacement + signature[position + 1 :]
    with pytest.raises(SignatureError):
        verify(
            partner=partner,
            timestamp=str(timestamp),
            signature=tampered,
            secret=secret,
            now=float(timestamp),
        )


@settings(max_examples=25, deadline=None)
@given(partner=partners, timestamp=timestamps, secret=secrets_text)
def test_property_sign_matches_openssl(partner: str, timestamp: int, secret: str) -> None:
    assert sign(partner, timestamp, secret) == openssl_hmac(f"{partner}:{timestamp}", secret)
