"""A demo CA: the partner "with certificate issuance capability", for development and tests.

Redtrust generates the key and the CSR; the partner's CA signs the CSR; the certificate goes
back to Redtrust with ``csr/finalize``. :class:`DemoCA` plays that CA with ``cryptography``.
It is not a production CA: its key lives in memory and it signs whatever verifies.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .._clock import Clock, system_clock, to_datetime
from ..exceptions import InvalidInputError

__all__ = ["DemoCA", "pem"]

#: Certificates start this long before "now": a verifier whose clock is a little behind
#: would otherwise see a certificate that is not valid yet.
BACKDATE_SECONDS = 300
_MAX_DAYS = 3650


def pem(certificate: x509.Certificate) -> str:
    """A certificate as PEM text."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _csr_of(csr: object) -> x509.CertificateSigningRequest:
    if isinstance(csr, x509.CertificateSigningRequest):
        return csr
    if isinstance(csr, str):
        csr = csr.encode("ascii", "replace")
    if not isinstance(csr, bytes):
        raise InvalidInputError("csr", "must be a CertificateSigningRequest or PEM text")
    try:
        return x509.load_pem_x509_csr(csr)
    except ValueError:
        raise InvalidInputError("csr", "is not a PEM certificate request") from None


def _key_usage(**granted: bool) -> x509.KeyUsage:
    """A KeyUsage with only the ``granted`` purposes set."""
    purposes = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: granted.get(name, False) for name in purposes})


def _days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= _MAX_DAYS:
        raise InvalidInputError("days", f"must be an int from 1 to {_MAX_DAYS}")
    return days


class DemoCA:
    """A self-signed CA (EC P-256, SHA-256) that issues end-entity certificates from CSRs.

    Args:
        name: the CA's common name.
        clock: the time source for validity periods (UNIX seconds); inject a fake in tests.
        days: the CA certificate's lifetime.
    """

    __slots__ = ("_clock", "_key", "certificate")

    def __init__(
        self,
        name: str = "Redtrust Sandbox Demo CA",
        *,
        clock: Clock = system_clock,
        days: int = 3650,
    ) -> None:
        if not isinstance(name, str) or not 1 <= len(name.encode("utf-8")) <= 64:
            raise InvalidInputError("name", "must be 1 to 64 bytes in UTF-8")
        self._clock = clock
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redtrust-middleware demo"),
            ]
        )
        start = to_datetime(clock()) - timedelta(seconds=BACKDATE_SECONDS)
        public = self._key.public_key()
        #: The CA's own certificate (self-signed).
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=_days(days)))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def __repr__(self) -> str:
        return f"DemoCA(subject={self.certificate.subject.rfc4514_string()!r})"

    @property
    def certificate_pem(self) -> str:
        """The CA certificate as PEM (to trust the certificates it issues)."""
        return pem(self.certificate)

    def issue(
        self,
        csr: x509.CertificateSigningRequest | str | bytes,
        *,
        days: int = 365,
        now: float | None = None,
    ) -> x509.Certificate:
        """Sign ``csr`` into an end-entity certificate valid for ``days`` from ``now``.

        The subject is copied from the CSR; the serial is random; validity starts
        :data:`BACKDATE_SECONDS` before ``now`` (the injected clock when not given).

        Raises:
            InvalidInputError: the CSR does not parse or its signature does not verify.
        """
        lifetime = timedelta(days=_days(days))
        request = _csr_of(csr)
        if not request.is_signature_valid:
            raise InvalidInputError("csr", "its signature does not verify")
        public = request.public_key()
        if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise InvalidInputError("csr", "the key must be RSA or EC")
        start = to_datetime(self._clock() if now is None else now)
        start -= timedelta(seconds=BACKDATE_SECONDS)
        ca_public = self._key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(
                    digital_signature=True,
                    content_commitment=True,
                    # RSA keys may also wrap session keys; an EC key cannot encipher.
                    key_encipherment=isinstance(public, rsa.RSAPublicKey),
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
