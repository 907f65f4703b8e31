"""Scratch measurement: µs to decode one session record, JSON (before) vs binary (now).

Interleaved rounds in one run; a JWT-shaped access token of about 0.6 KB with eight claims.

    PYTHONPATH=src:integrations:. python scratch/record_decode.py
"""

from __future__ import annotations

import base64
import json
import sys
import timeit

from redtrust_middleware._clock import to_datetime
from redtrust_middleware.session.records import SessionRecord
from redtrust_middleware.tokens import TokenSet, read_claims


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


CLAIMS = {
    "sub": "user-12345",
    "iss": "https://redtrust.example",
    "aud": "app",
    "iat": 1764680000,
    "exp": 1764680900,
    "name": "Ana García",
    "roles": ["operator", "viewer"],
    "jti": "x" * 32,
}


def main(rounds: int = 5, number: int = 20_000) -> None:
    access = _b64({"alg": "RS256", "typ": "JWT"}) + "." + _b64(CLAIMS) + "." + "s" * 342
    tokens = TokenSet(
        access_token=access,
        refresh_token="r" * 64,
        expires_at=to_datetime(1764680900.0),
        claims=read_claims(access),
    )
    record = SessionRecord(tokens=tokens, created_at=1764680000.0, seen_at=1764680100.0)
    old, new = record.to_json(), record.encode()
    assert SessionRecord.decode(old) == SessionRecord.decode(new) == record
    sys.stdout.write(f"sizes: json {len(old)} B, binary {len(new)} B\n")
    for r in range(rounds):
        t_old, t_new = (
            min(timeit.repeat(lambda raw=raw: SessionRecord.decode(raw), number=number, repeat=3))
            / number
            * 1e6
            for raw in (old, new)
        )
        sys.stdout.write(
            f"round {r}: json {t_old:.2f} µs, binary {t_new:.2f} µs, ratio {t_new / t_old:.2f}\n"
        )


if __name__ == "__main__":
    main()
