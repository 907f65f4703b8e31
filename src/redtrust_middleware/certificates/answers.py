"""The answers of ``csr/create`` and ``csr/finalize``, read strictly where nothing is lost yet
and leniently once Redtrust stored a certificate; the frozen results."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..exceptions import InvalidInputError, UnusableAnswerError
from .requests import _BASE64, _CODE, _DEFAULT_RULES, _THUMBPRINT, CsrRules

__all__ = [
    "CertificateInput",
    "CsrRequest",
    "Enrollment",
    "IssuedCertificate",
    "certificate_of",
    "check_issued_for",
    "parse_created",
    "parse_finalized",
]

_MAX_PEM_CHARS = 64 * 1024


#: A certificate as the clients accept it: a ``cryptography`` object, or PEM text or bytes.
CertificateInput = x509.Certificate | str | bytes


def certificate_of(value: object, field_name: str = "certificate") -> x509.Certificate:
    """A certificate from a ``cryptography`` object or PEM text/bytes.

    Raises:
        InvalidInputError: the value is neither, or its PEM does not parse.
    """
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    if not isinstance(value, bytes):
        raise InvalidInputError(field_name, "must be an x509.Certificate or PEM text")
    if len(value) > _MAX_PEM_CHARS or b"-----BEGIN CERTIFICATE-----" not in value:
        raise InvalidInputError(field_name, "is not a PEM certificate")
    try:
        return x509.load_pem_x509_certificate(value)
    except ValueError:
        raise InvalidInputError(field_name, "is not a PEM certificate") from None


def _public_key_der(key: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_issued_for(csr: x509.CertificateSigningRequest, certificate: x509.Certificate) -> None:
    """Refuse a certificate that does not carry the CSR's public key (before finalizing).

    Raises:
        InvalidInputError: (field ``certificate``) the keys differ.
    """
    if _public_key_der(csr) != _public_key_der(certificate):
        raise InvalidInputError("certificate", "does not carry the public key of the request")


@dataclass(frozen=True, slots=True, kw_only=True)
class CsrRequest:
    """The answer of ``csr/create``: the request code and the CSR Redtrust signed."""

    request_code: str
    csr: x509.CertificateSigningRequest = field(repr=False)
    #: The CSR in PEM: as Redtrust sent it, or encoded from the base64 DER it sent.
    csr_pem: str = field(repr=False)
    #: The thumbprint of the certificate this request renews, if it is a renewal.
    thumbprint_to_renew: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """The answer of ``csr/finalize``, with the certificate that was finalized."""

    #: As Redtrust returned it; None when its answer had none (see :attr:`warnings`).
    id_certificate: str | None
    #: As Redtrust returned it (the sandbox: SHA-1 of the DER, upper-case hex); when the
    #: answer had none, the SHA-1 of the certificate computed here (see :attr:`warnings`).
    thumbprint: str
    certificate: x509.Certificate = field(repr=False)
    #: What was odd in Redtrust's answer; the certificate is stored at Redtrust all the same.
    warnings: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        """The certificate's subject as an RFC 4514 string.

        RFC 4514 writes the last RDN first: a DN given as ``cn, o, c`` reads ``C=ES,O=Org,CN=A``.
        """
        return self.certificate.subject.rfc4514_string()

    @property
    def serial_number(self) -> int:
        """The serial number the partner's CA gave it."""
        return self.certificate.serial_number

    @property
    def not_valid_before(self) -> datetime:
        """Start of validity (aware, UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def not_valid_after(self) -> datetime:
        """End of validity (aware, UTC)."""
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    """A whole issuance or renewal: the request, then the finalized certificate."""

    request: CsrRequest
    issued: IssuedCertificate

    @property
    def renewed_thumbprint(self) -> str | None:
        """The thumbprint of the certificate this one replaced (None for a new one)."""
        return self.request.thumbprint_to_renew

    @property
    def warnings(self) -> tuple[str, ...]:
        """What was odd in the finalize answer (:attr:`IssuedCertificate.warnings`)."""
        return self.issued.warnings


def _identifier(value: object) -> str | None:
    """A string id; a JSON integer is accepted too (the type is not published)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    return None


def _shown(value: object, limit: int = 40) -> str:
    """Upstream text made safe for a message: printable, truncated, quoted."""
    text = value if isinstance(value, str) else type(value).__name__
    return repr("".join(c if c.isprintable() else "?" for c in text[:limit]))


def _missing_or(value: object) -> str:
    return "missing" if value is None else f"malformed ({_shown(value)})"


def _read_csr(value: object) -> tuple[x509.CertificateSigningRequest, str]:
    """A CSR sent as PEM or as base64 DER, and its PEM; ValueError names the problem."""
    if not isinstance(value, str) or not value or len(value) > _MAX_PEM_CHARS:
        raise ValueError("is not a string of PEM or base64 DER")
    if "-----BEGIN" in value:
        if "CERTIFICATE REQUEST-----" not in value:
            raise ValueError("is PEM but not a certificate request")
        try:
            csr = x509.load_pem_x509_csr(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("does not parse as a PEM certificate request") from None
        pem = value
    else:
        compact = "".join(value.split())
        try:
            if not _BASE64.fullmatch(compact):
                raise ValueError
            csr = x509.load_der_x509_csr(base64.b64decode(compact, validate=True))
        except (ValueError, binascii.Error):
            raise ValueError("is neither PEM nor base64 DER of a certificate request") from None
        pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    if not csr.is_signature_valid:
        raise ValueError("has a bad signature")
    return csr, pem


def parse_created(
    data: Mapping[str, Any],
    *,
    status: int,
    thumbprint_to_renew: str | None = None,
    rules: CsrRules = _DEFAULT_RULES,
) -> CsrRequest:
    """The :class:`CsrRequest` in ``csr/create`` data: the request code, and the CSR (PEM or
    base64 DER) in the first of ``rules.csr_fields`` present.

    Raises:
        UnusableAnswerError: a missing or malformed field, or a CSR that does not parse or
            verify; it carries the request code when the answer had a usable one.
    """
    code_field = rules.csr_request_code_field
    code = _identifier(data.get(code_field))
    where = next((name for name in rules.csr_fields if data.get(name) is not None), None)

    def unusable(problem: str) -> UnusableAnswerError:
        return UnusableAnswerError(
            problem, operation="csr_create", status=status, request_code=code
        )

    if where is None:
        present = ", ".join(_shown(name) for name in list(data)[:10]) or "no fields"
        raise unusable(
            f"no CSR in the answer: none of {', '.join(rules.csr_fields)} is there (it has "
            f"{present}); set csr_fields to the field Redtrust uses"
        )
    try:
        csr, pem = _read_csr(data[where])
    except ValueError as error:
        raise unusable(f"'{where}' {error}") from None
    if code is None:
        raise unusable(
            f"'{code_field}' is missing or malformed; set csr_request_code_field to the field "
            "Redtrust uses"
        )
    return CsrRequest(
        request_code=code, csr=csr, csr_pem=pem, thumbprint_to_renew=thumbprint_to_renew
    )


def _sha1_thumbprint(certificate: x509.Certificate) -> str:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def parse_finalized(
    data: object, *, status: int, certificate: x509.Certificate, rules: CsrRules = _DEFAULT_RULES
) -> IssuedCertificate:
    """The :class:`IssuedCertificate` of a successful ``csr/finalize``.

    The certificate is stored at Redtrust by then, so nothing here raises: what is odd
    (a missing or malformed id or thumbprint, fields beyond those two, data that is not an
    object) is described in :attr:`IssuedCertificate.warnings`. A thumbprint that is text
    is kept as Redtrust sent it; without one, the certificate's SHA-1 is used.
    """
    warnings: list[str] = []
    if not isinstance(data, Mapping):
        warnings.append("the answer's data is not an object")
        data = {}
    id_field, thumbprint_field = rules.finalize_id_field, rules.finalize_thumbprint_field
    id_certificate = _identifier(data.get(id_field))
    if id_certificate is None:
        warnings.append(
            f"'{id_field}' is {_missing_or(data.get(id_field))}, so id_certificate is None; "
            "set finalize_id_field if Redtrust names it otherwise"
        )
    given = data.get(thumbprint_field)
    if isinstance(given, str) and _THUMBPRINT.fullmatch(given):
        thumbprint = given
    elif isinstance(given, str) and _CODE.fullmatch(given):
        thumbprint = given
        warnings.append(
            f"'{thumbprint_field}' {_shown(given)} is not 40 or 64 hexadecimal digits; "
            "kept as Redtrust sent it"
        )
    else:
        thumbprint = _sha1_thumbprint(certificate)
        warnings.append(
            f"'{thumbprint_field}' is {_missing_or(given)}, so the certificate's SHA-1 is used; "
            "set finalize_thumbprint_field if Redtrust names it otherwise"
        )
    extra = [name for name in data if name not in (id_field, thumbprint_field)]
    if extra:
        warnings.append(f"unexpected fields: {', '.join(_shown(name) for name in extra[:10])}")
    return IssuedCertificate(
        id_certificate=id_certificate,
        thumbprint=thumbprint,
        certificate=certificate,
        warnings=tuple(warnings),
    )
