"""The stored session record: the binary format written now, and the JSON format written
before it, which must still load (no session is lost on upgrade)."""

from __future__ import annotations

import struct

import pytest

from redtrust_middleware import TokenSet
from redtrust_middleware.session import SessionRecord
from redtrust_middleware.session.records import RECORD_V1
from redtrust_middleware.testing import make_config
from redtrust_middleware.tokens import parse_expiration

from .conftest import World

pytestmark = pytest.mark.anyio

EXPIRES = "2030-01-01T00:00:00+00:00"
EXPIRES_TS = 1893456000.0  # 2030-01-01T00:00:00Z


def _record(
    *, refresh: str | None = "r-token", claims: dict[str, object] | None = None
) -> SessionRecord:
    tokens = TokenSet(
        access_token="a.b.c",
        refresh_token=refresh,
        expires_at=parse_expiration(EXPIRES),
        claims=claims if claims is not None else {"sub": "ana", "name": "Ana García"},
    )
    return SessionRecord(tokens=tokens, created_at=1.5, seen_at=2.5)


def test_records_are_written_in_the_binary_format_as_specified() -> None:
    raw = _record(claims={"sub": "x"}).encode()
    # Built here from the format's description: version, three float64, three uint32 lengths.
    expected = (
        b"\x01"
        + struct.pack("<ddd", EXPIRES_TS, 1.5, 2.5)
        + struct.pack("<III", 5, 7, 11)
        + b"a.b.c"
        + b"r-token"
        + b'{"sub":"x"}'
    )
    assert raw[0] == RECORD_V1
    assert raw == expected


@pytest.mark.parametrize("refresh", ["r-token", None, ""])
@pytest.mark.parametrize("claims", [{}, {"sub": "ana", "name": "Ana García", "roles": ["a"]}])
def test_binary_records_round_trip(refresh: str | None, claims: dict[str, object]) -> None:
    record = _record(refresh=refresh, claims=claims)
    again = SessionRecord.decode(record.encode())
    assert again == record
    assert again is not None
    assert again.tokens.refresh_token == refresh
    assert again.tokens.expires_at == record.tokens.expires_at
    assert dict(again.tokens.claims) == claims
    assert again.tokens.expires_in(EXPIRES_TS - 10) == 10


def test_opened_claims_are_read_only_and_never_printed() -> None:
    again = SessionRecord.decode(_record().encode())
    assert again is not None
    claims = again.tokens.claims
    assert claims["name"] == "Ana García"
    assert again.tokens.subject == "ana"
    assert claims.get("missing") is None
    assert "Ana" not in repr(claims)
    with pytest.raises(TypeError):
        claims["sub"] = "other"  # type: ignore[index]


def test_the_json_format_of_earlier_releases_is_read() -> None:
    # Exactly what earlier releases wrote (separators without spaces, ISO expiry).
    raw = (
        b'{"a":"a.b.c","r":"r-token","e":"2030-01-01T00:00:00+00:00",'
        b'"c":{"sub":"ana"},"created":1.5,"seen":2.5}'
    )
    record = SessionRecord.decode(raw)
    assert record is not None
    assert record.tokens.access_token == "a.b.c"
    assert record.tokens.refresh_token == "r-token"
    assert record.tokens.expires_in(EXPIRES_TS) == 0
    assert record.tokens.subject == "ana"
    assert (record.created_at, record.seen_at) == (1.5, 2.5)


def _v1(times: tuple[float, float, float], parts: tuple[bytes, bytes, bytes]) -> bytes:
    lengths = tuple(len(p) for p in parts)
    return b"\x01" + struct.pack("<dddIII", *times, *lengths) + b"".join(parts)


GOOD_TIMES = (EXPIRES_TS, 1.5, 2.5)
GOOD_PARTS = (b"a.b.c", b"r", b'{"sub":"x"}')


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x02" + _v1(GOOD_TIMES, GOOD_PARTS)[1:],  # an unknown version
        _v1(GOOD_TIMES, GOOD_PARTS)[:-1],  # truncated
        _v1(GOOD_TIMES, GOOD_PARTS) + b"x",  # trailing bytes
        _v1(GOOD_TIMES, GOOD_PARTS)[:20],  # shorter than its header
        _v1((float("nan"), 1.5, 2.5), GOOD_PARTS),
        _v1((EXPIRES_TS, float("inf"), 2.5), GOOD_PARTS),
        _v1((EXPIRES_TS, 1.5, -1.0), GOOD_PARTS),
        _v1(GOOD_TIMES, (b"", b"r", b"")),  # no access token
        _v1(GOOD_TIMES, (b"\xff\xfe", b"r", b"")),  # not UTF-8
        _v1(GOOD_TIMES, (b"a", b"r", b"[1]")),  # claims that are not an object
        b"{not json",
    ],
)
def test_malformed_records_read_as_none(raw: bytes) -> None:
    assert SessionRecord.decode(raw) is None


async def test_a_session_written_in_the_json_format_loads_after_the_upgrade(world: World) -> None:
    handle = await world.sign_in()
    flows = world.driver.flows
    key = flows.session_key(handle)
    fresh = world.keyring.open(world.store.inner.get(key) or b"", context=key)
    assert fresh is not None
    assert fresh[0] == RECORD_V1  # a sign-in writes the binary format
    # The suite clock starts at 1_800_000_000 (2027-01-15T08:00:00Z); the token has 10 min.
    now = world.clock()
    legacy = (
        b'{"a":"legacy-access","r":"legacy-refresh","e":"2027-01-15T08:10:00+00:00",'
        b'"c":{"sub":"demo"},"created":%r,"seen":%r}' % (now, now)
    )
    world.store.inner.set(key, world.keyring.seal(legacy, context=key), ttl=600)
    session = await world.driver.get(handle)
    assert session is not None
    assert session.tokens.access_token == "legacy-access"
    assert session.tokens.refresh_token == "legacy-refresh"
    assert session.tokens.subject == "demo"
    assert session.tokens.expires_in(now) == 600
    world.clock.advance(world.config.idle_timeout / 10 + 1)  # due an idle-time touch
    assert await world.driver.get(handle) is not None
    rewritten = world.keyring.open(world.store.inner.get(key) or b"", context=key)
    assert rewritten is not None
    assert rewritten[0] == RECORD_V1  # the touch wrote it in the binary format
    again = await world.driver.get(handle)
    assert again is not None
    assert again.tokens.access_token == "legacy-access"
    assert world.sandbox.calls["refresh"] == 0


def test_the_caches_hold_as_many_sessions_as_configured() -> None:
    from redtrust_middleware import Keyring
    from redtrust_middleware.session.flows import SessionFlows

    flows = SessionFlows(make_config(local_sessions=500), Keyring(["k" * 32]), lambda: 0.0)
    assert flows._keys.max_entries == flows._opened.max_entries == 500
    default = SessionFlows(make_config(), Keyring(["k" * 32]), lambda: 0.0)
    assert default._opened.max_entries == 100_000
