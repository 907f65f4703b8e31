"""The sandbox's access tokens: ES256 JWTs signed with a key generated at start."""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from ._errors import INVALID_BEARER, unauthorized

__all__ = ["ALGORITHM", "AccessTokenSigner"]

#: The one algorithm the sandbox signs with and accepts back.
ALGORITHM = "ES256"


class AccessTokenSigner:
    """Signs access tokens and checks the ones presented back as bearers.

    The key pair lives in memory only: a restarted sandbox invalidates every token it issued.
    """

    __slots__ = ("_issuer", "_key", "kid")

    def __init__(self, issuer: str) -> None:
        self._issuer = issuer
        self._key = ECKey.generate_key("P-256", auto_kid=True)
        #: The key id placed in every token header and in the JWKS (the RFC 7638 thumbprint).
        self.kid: str = self._key.kid or self._key.thumbprint()

    def __repr__(self) -> str:
        return f"AccessTokenSigner(alg={ALGORITHM!r}, kid={self.kid!r})"

    def sign(
        self,
        *,
        subject: str,
        audience: str | None,
        session_id: str,
        domain: str | None,
        now: int,
        ttl: int,
    ) -> str:
        """A new access token for ``subject`` in session ``session_id``; ``aud`` is the
        session's partner, left out for a session opened without HMAC headers."""
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
            "sid": session_id,
        }
        if audience is not None:
            claims["aud"] = audience
        if domain is not None:
            claims["domain"] = domain
        header = {"alg": ALGORITHM, "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])

    def read(self, token: str, *, audience: str | None) -> dict[str, Any]:
        """The claims of a bearer this sandbox signed; expiry is NOT checked.

        ``audience`` is the partner that signed the call (``None``: an unsigned call): a bearer
        issued to another partner is refused; one without ``aud`` (a session opened without
        HMAC headers) belongs to no partner and is accepted from any.

        Raises:
            Reject: 401 ``INVALID_BEARER`` for anything else (foreign key or algorithm, other
                ``kid``, issuer or audience, malformed token or claims).
        """
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise unauthorized(INVALID_BEARER, "the bearer was not issued by this server") from None
        claims = decoded.claims
        aud = claims.get("aud")
        if (
            decoded.header.get("kid") != self.kid
            or claims.get("iss") != self._issuer
            or not (aud is None or isinstance(aud, str))
            or (audience is not None and aud is not None and aud != audience)
            or not isinstance(claims.get("sid"), str)
            or not isinstance(claims.get("exp"), int)
        ):
            raise unauthorized(INVALID_BEARER, "the bearer is not valid for this partner")
        return claims

    def jwks(self) -> dict[str, Any]:
        """The public JWK set: ``{"keys": [{"kty": "EC", "kid", "alg", "use", ...}]}``."""
        public = dict(self._key.as_dict(private=False))
        public.update({"alg": ALGORITHM, "use": "sig", "kid": self.kid})
        return {"keys": [public]}
