"""The JWK set that verifies access tokens: readable, public, usable for the algorithms."""

from __future__ import annotations

from collections.abc import Mapping

from ..calls import make_verifier
from ..config import RedtrustConfig
from ..exceptions import TokenError
from ._report import Finding, Names

__all__ = ["check_jwks"]


def check_jwks(config: RedtrustConfig, name: Names) -> list[Finding]:
    if config.jwks is None:
        return []
    variable = name("jwks")
    keys = config.jwks.get("keys")
    if not isinstance(keys, list):  # pragma: no cover - the config refuses it
        keys = []
    families = {alg[:2] for alg in config.jwt_algorithms}
    kty_of = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
    wanted = {kty_of[f] for f in families if f in kty_of}
    usable = 0
    private = 0
    for key in keys:
        if not isinstance(key, Mapping):
            continue
        if "d" in key:
            private += 1
        alg = key.get("alg")
        if (
            key.get("kty") in wanted
            and key.get("use", "sig") == "sig"
            and (alg is None or alg in config.jwt_algorithms)
        ):
            usable += 1
    try:
        make_verifier(config)
    except TokenError as error:
        return [
            Finding(
                check="jwks",
                status="fail",
                message=f"the JWK set cannot be read: {error}",
                fix=f"point {variable} at Redtrust's published JWK set",
            )
        ]
    found: list[Finding] = []
    if private:
        found.append(
            Finding(
                check="jwks",
                status="warn",
                message=f"{private} key(s) of the set hold private parts ('d')",
                fix="keep only the public keys in the JWK set",
            )
        )
    if not usable:
        found.append(
            Finding(
                check="jwks",
                status="fail",
                message=f"none of the {len(keys)} key(s) can verify "
                f"{', '.join(config.jwt_algorithms)} signatures (kty, use or alg differ)",
                fix=f"use Redtrust's signing keys in {variable}, or set {name('jwt_algorithms')}",
            )
        )
    else:
        found.append(
            Finding(check="jwks", status="ok", message=f"{usable} of {len(keys)} key(s) usable")
        )
    return found
