"""Certificate requests (RA API ``csr/create`` and ``csr/finalize``): inputs and results.

Pure code, no I/O: the validated request (:class:`CsrSpec`), the subject DN
(:class:`DNAttribute`), strict parsers of the answers, and the frozen results
(:class:`CsrRequest`, :class:`IssuedCertificate`, :class:`Enrollment`). The clients in
:mod:`redtrust_middleware.client` send them. The sandbox checks requests with its own
rules, written from the documentation, so a mistake here shows up in the tests.

Redtrust publishes no list of accepted values (``redtrust-api.md`` §5), so the library accepts
the documented and well-established ones only, and refuses anything else before sending:

* DN attributes: the names of :data:`DN_ATTRIBUTES` (case-insensitive, sent in lower case),
  each value 1 to 64 UTF-8 bytes of printable characters; ``c`` is two ASCII letters
  (upper-cased); ``serialnumber`` is a PrintableString, ``emailaddress`` and ``dc`` ASCII.
* ``hash_type``: ``SHA256``, ``SHA384`` (the default, as in the documentation), ``SHA512``.
* ``key_type`` / ``key_length``: ``RSA`` 2048 (default), 3072, 4096; ``EC`` 256 (P-256,
  default) or 384 (P-384).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .exceptions import InvalidInputError, ProtocolError

__all__ = [
    "DEFAULT_KEY_LENGTHS",
    "DN_ATTRIBUTES",
    "HASH_TYPES",
    "KEY_LENGTHS",
    "CertificateInput",
    "CsrOptions",
    "CsrRequest",
    "CsrSpec",
    "DNAttribute",
    "DNInput",
    "Enrollment",
    "IssuedCertificate",
    "certificate_of",
    "check_issued_for",
    "dn_from_name",
    "dn_to_name",
    "normalize_dn",
    "parse_created",
    "parse_finalized",
    "validate_request_code",
    "validate_thumbprint",
]

#: Accepted DN attribute names and the OIDs they stand for.
DN_ATTRIBUTES: Mapping[str, ObjectIdentifier] = MappingProxyType(
    {
        "cn": NameOID.COMMON_NAME,
        "o": NameOID.ORGANIZATION_NAME,
        "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "c": NameOID.COUNTRY_NAME,
        "l": NameOID.LOCALITY_NAME,
        "st": NameOID.STATE_OR_PROVINCE_NAME,
        "street": NameOID.STREET_ADDRESS,
        "serialnumber": NameOID.SERIAL_NUMBER,
        "emailaddress": NameOID.EMAIL_ADDRESS,
        "givenname": NameOID.GIVEN_NAME,
        "surname": NameOID.SURNAME,
        "title": NameOID.TITLE,
        "dc": NameOID.DOMAIN_COMPONENT,
        "uid": NameOID.USER_ID,
        "organizationidentifier": NameOID.ORGANIZATION_IDENTIFIER,
    }
)
_BY_OID = {oid: name for name, oid in DN_ATTRIBUTES.items()}
#: Accepted hash algorithms for the CSR signature.
HASH_TYPES = ("SHA256", "SHA384", "SHA512")
#: Accepted key lengths per key type (for ``EC``, the curve size: P-256, P-384).
KEY_LENGTHS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"RSA": (2048, 3072, 4096), "EC": (256, 384)}
)
#: The key length used when only the key type is given.
DEFAULT_KEY_LENGTHS: Mapping[str, int] = MappingProxyType({"RSA": 2048, "EC": 256})

_MAX_DN_ATTRIBUTES = 32
_MAX_VALUE_BYTES = 64  # X.520's upper bound for most attributes (and cryptography's for cn)
# ASN.1 PrintableString (cryptography encodes c and serialNumber as one).
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")
_ASCII = re.compile(r"[\x20-\x7e]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}")
_CODE = re.compile(r"[\x21-\x7e]{1,256}")
_MAX_TEXT = 256
_MAX_INFO = 32
_MAX_GROUPS = 100
_MAX_GROUP_ID = 2**31 - 1
_MAX_PEM_CHARS = 64 * 1024


def _printable(text: str) -> bool:
    return all(c.isprintable() for c in text)


@dataclass(frozen=True, slots=True, kw_only=True)
class DNAttribute:
    """One part of a subject DN, e.g. ``DNAttribute(attribute="cn", value="Alice")``.

    Validated and normalised when built: the attribute name in lower case, ``c`` upper case.

    Raises:
        InvalidInputError: (field ``dn``) an unknown attribute or an unacceptable value.
    """

    attribute: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.attribute, str) or not isinstance(self.value, str):
            raise InvalidInputError("dn", "attribute and value must be strings")
        name = self.attribute.lower()
        if name not in DN_ATTRIBUTES:
            raise InvalidInputError(
                "dn", f"unknown attribute; accepted: {', '.join(DN_ATTRIBUTES)}"
            )
        value = self.value
        if not value or len(value.encode("utf-8", "surrogatepass")) > _MAX_VALUE_BYTES:
            raise InvalidInputError("dn", f"a {name} value must be 1 to 64 bytes in UTF-8")
        if not _printable(value):
            raise InvalidInputError("dn", f"a {name} value must not contain control characters")
        if name == "c":
            if not _COUNTRY.fullmatch(value):
                raise InvalidInputError("dn", "c must be a two-letter country code")
            value = value.upper()
        elif name == "serialnumber" and not _PRINTABLE.fullmatch(value):
            raise InvalidInputError(
                "dn", "serialnumber allows letters, digits, space and '()+,-./:=?"
            )
        elif name in ("emailaddress", "dc") and not _ASCII.fullmatch(value):
            raise InvalidInputError("dn", f"a {name} value must be ASCII")
        object.__setattr__(self, "attribute", name)
        object.__setattr__(self, "value", value)

    @property
    def oid(self) -> ObjectIdentifier:
        """The attribute's X.509 object identifier."""
        return DN_ATTRIBUTES[self.attribute]


#: A subject DN as accepted by the clients: ``[("cn", "Alice"), ("c", "ES")]``, a sequence of
#: :class:`DNAttribute`, or a mapping ``{"cn": "Alice"}`` (one value per attribute, in order).
DNInput = Sequence[DNAttribute | tuple[str, str]] | Mapping[str, str]


def normalize_dn(dn: DNInput) -> tuple[DNAttribute, ...]:
    """Validate a DN given in any accepted shape; the attributes in order.

    Raises:
        InvalidInputError: field ``dn`` (or ``dn[i]`` for one part) names the problem.
    """
    given: object = dn  # callers may pass anything: check at run time, not by the annotation
    if isinstance(given, Mapping):
        parts: Sequence[object] = list(given.items())
    elif isinstance(given, Sequence) and not isinstance(given, str | bytes):
        parts = given
    else:
        raise InvalidInputError("dn", "must be a sequence of (attribute, value) pairs")
    if not parts:
        raise InvalidInputError("dn", "must have at least one attribute")
    if len(parts) > _MAX_DN_ATTRIBUTES:
        raise InvalidInputError("dn", f"must have at most {_MAX_DN_ATTRIBUTES} attributes")
    result = []
    for index, part in enumerate(parts):
        try:
            if isinstance(part, DNAttribute):
                result.append(part)
            elif isinstance(part, tuple) and len(part) == 2:
                result.append(DNAttribute(attribute=part[0], value=part[1]))
            else:
                raise InvalidInputError("dn", "each part must be an (attribute, value) pair")
        except InvalidInputError as error:
            raise InvalidInputError(f"dn[{index}]", error.problem) from None
    return tuple(result)


def dn_to_name(dn: Sequence[DNAttribute]) -> x509.Name:
    """The X.509 name for a validated DN, one attribute per RDN, in order."""
    return x509.Name([x509.NameAttribute(part.oid, part.value) for part in dn])


def dn_from_name(name: x509.Name) -> tuple[DNAttribute, ...]:
    """The DN of a certificate's or CSR's subject, e.g. to renew it with the same subject.

    Raises:
        InvalidInputError: (field ``dn``) the name holds an attribute outside the allow-list.
    """
    parts = []
    for attribute in name:
        key = _BY_OID.get(attribute.oid)
        if key is None or not isinstance(attribute.value, str):
            raise InvalidInputError("dn", "the name holds an attribute that is not accepted")
        parts.append(DNAttribute(attribute=key, value=attribute.value))
    return normalize_dn(parts)


class CsrOptions(TypedDict, total=False):
    """The optional fields of a certificate request (``csr/create``)."""

    #: ``SHA256``, ``SHA384`` (default) or ``SHA512``.
    hash_type: str
    #: ``RSA`` (default) or ``EC``.
    key_type: str
    #: RSA: 2048 (default), 3072, 4096; EC: 256 (default) or 384.
    key_length: int
    #: The certificate provider, e.g. ``CAMERFIRMA``.
    provider: str
    #: Free-form string pairs kept with the request.
    info: Mapping[str, str]
    #: Redtrust certificate group ids.
    group_ids: Sequence[int]


def _text(name: str, value: object, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(name, "must be a string")
    if not value or len(value) > limit:
        raise InvalidInputError(name, f"must be 1 to {limit} characters")
    if not _printable(value):
        raise InvalidInputError(name, "must not contain control characters")
    return value


def _key(key_type: object, key_length: object) -> tuple[str, int]:
    if not isinstance(key_type, str) or key_type.upper() not in KEY_LENGTHS:
        raise InvalidInputError("key_type", f"must be one of {', '.join(KEY_LENGTHS)}")
    kind = key_type.upper()
    if key_length is None:
        return kind, DEFAULT_KEY_LENGTHS[kind]
    allowed = KEY_LENGTHS[kind]
    if isinstance(key_length, bool) or not isinstance(key_length, int) or key_length not in allowed:
        lengths = ", ".join(map(str, allowed))
        raise InvalidInputError("key_length", f"must be one of {lengths} for {kind}")
    return kind, key_length


def _hash(hash_type: object) -> str:
    if not isinstance(hash_type, str) or hash_type.upper() not in HASH_TYPES:
        raise InvalidInputError("hash_type", f"must be one of {', '.join(HASH_TYPES)}")
    return hash_type.upper()


def _info(info: object) -> Mapping[str, str]:
    if not isinstance(info, Mapping):
        raise InvalidInputError("info", "must be a mapping of strings to strings")
    if len(info) > _MAX_INFO:
        raise InvalidInputError("info", f"must have at most {_MAX_INFO} entries")
    return MappingProxyType({_text("info", k, 64): _text("info", v, 1024) for k, v in info.items()})


def _groups(group_ids: object) -> tuple[int, ...]:
    if not isinstance(group_ids, Sequence) or isinstance(group_ids, str | bytes):
        raise InvalidInputError("group_ids", "must be a sequence of ints")
    if len(group_ids) > _MAX_GROUPS:
        raise InvalidInputError("group_ids", f"must have at most {_MAX_GROUPS} ids")
    for group in group_ids:
        if isinstance(group, bool) or not isinstance(group, int):
            raise InvalidInputError("group_ids", "every id must be an int")
        if not 0 <= group <= _MAX_GROUP_ID:
            raise InvalidInputError("group_ids", f"every id must be 0 to {_MAX_GROUP_ID}")
    if len(set(group_ids)) != len(group_ids):
        raise InvalidInputError("group_ids", "must not repeat an id")
    return tuple(group_ids)


def validate_thumbprint(thumbprint: object, field_name: str = "thumbprint") -> str:
    """A certificate thumbprint: 40 (SHA-1) or 64 (SHA-256) hex digits; upper-cased."""
    if not isinstance(thumbprint, str) or not _THUMBPRINT.fullmatch(thumbprint):
        raise InvalidInputError(field_name, "must be 40 or 64 hexadecimal digits")
    return thumbprint.upper()


def validate_request_code(request_code: object) -> str:
    """A ``requestCode``: 1 to 256 printable ASCII characters without spaces."""
    if not isinstance(request_code, str) or not _CODE.fullmatch(request_code):
        raise InvalidInputError("request_code", "must be 1 to 256 visible ASCII characters")
    return request_code


@dataclass(frozen=True, slots=True, kw_only=True)
class CsrSpec:
    """A validated ``csr/create`` request; build it with :meth:`build`."""

    dn: tuple[DNAttribute, ...]
    hash_type: str = "SHA384"
    key_type: str = "RSA"
    key_length: int = 2048
    provider: str | None = None
    info: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    group_ids: tuple[int, ...] = ()
    thumbprint_to_renew: str | None = None

    @classmethod
    def build(
        cls, dn: DNInput, *, thumbprint_to_renew: str | None = None, **options: Any
    ) -> CsrSpec:
        """Validate every input; nothing is sent before this succeeds.

        Raises:
            InvalidInputError: naming the field (``dn``, ``dn[i]``, ``hash_type``, ...).
        """
        unknown = sorted(set(options) - set(CsrOptions.__annotations__))
        if unknown:
            raise InvalidInputError(unknown[0], "is not a certificate request option")
        key_type, key_length = _key(options.get("key_type", "RSA"), options.get("key_length"))
        provider = options.get("provider")
        return cls(
            dn=normalize_dn(dn),
            hash_type=_hash(options.get("hash_type", "SHA384")),
            key_type=key_type,
            key_length=key_length,
            provider=None if provider is None else _text("provider", provider, 64),
            info=_info(options.get("info", {})),
            group_ids=_groups(options.get("group_ids", ())),
            thumbprint_to_renew=(
                None
                if thumbprint_to_renew is None
                else validate_thumbprint(thumbprint_to_renew, "thumbprint_to_renew")
            ),
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of ``csr/create``; optional fields only when set."""
        body: dict[str, Any] = {
            "dn": [{"attribute": p.attribute, "value": p.value} for p in self.dn],
            "hashType": self.hash_type,
            "keyType": self.key_type,
            "keyLength": self.key_length,
        }
        if self.provider is not None:
            body["provider"] = self.provider
        if self.info:
            body["info"] = dict(self.info)
        if self.group_ids:
            body["groupIds"] = list(self.group_ids)
        if self.thumbprint_to_renew is not None:
            body["thumbprintToRenew"] = self.thumbprint_to_renew
        return body


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
    #: The CSR as Redtrust sent it (PEM).
    csr_pem: str = field(repr=False)
    #: The thumbprint of the certificate this request renews, if it is a renewal.
    thumbprint_to_renew: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """The answer of ``csr/finalize``, with the certificate that was finalized."""

    id_certificate: str
    #: As Redtrust returned it (the sandbox: SHA-1 of the DER, upper-case hex).
    thumbprint: str
    certificate: x509.Certificate = field(repr=False)

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


def _identifier(data: Mapping[str, Any], key: str, operation: str, status: int) -> str:
    """A string id; a JSON integer is accepted too (the type is not published)."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ProtocolError(f"'{key}' is missing or malformed", operation=operation, status=status)
    return value


def parse_created(
    data: Mapping[str, Any], *, status: int, thumbprint_to_renew: str | None = None
) -> CsrRequest:
    """The :class:`CsrRequest` in ``csr/create`` data (``csr`` PEM and ``requestCode``).

    Raises:
        ProtocolError: a missing or malformed field, or a CSR that does not parse or verify.
    """
    operation = "csr_create"
    code = _identifier(data, "requestCode", operation, status)
    pem = data.get("csr")
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise ProtocolError("'csr' is missing or not PEM", operation=operation, status=status)
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        valid = csr.is_signature_valid
    except (ValueError, UnicodeEncodeError):
        raise ProtocolError("'csr' does not parse", operation=operation, status=status) from None
    if not valid:
        raise ProtocolError("'csr' has a bad signature", operation=operation, status=status)
    return CsrRequest(
        request_code=code, csr=csr, csr_pem=pem, thumbprint_to_renew=thumbprint_to_renew
    )


def parse_finalized(
    data: Mapping[str, Any], *, status: int, certificate: x509.Certificate
) -> IssuedCertificate:
    """The :class:`IssuedCertificate` in ``csr/finalize`` data.

    Raises:
        ProtocolError: ``idCertificate`` or ``thumbprint`` missing or malformed.
    """
    operation = "csr_finalize"
    id_certificate = _identifier(data, "idCertificate", operation, status)
    thumbprint = data.get("thumbprint")
    if not isinstance(thumbprint, str) or not _THUMBPRINT.fullmatch(thumbprint):
        raise ProtocolError(
            "'thumbprint' is missing or malformed", operation=operation, status=status
        )
    return IssuedCertificate(
        id_certificate=id_certificate, thumbprint=thumbprint, certificate=certificate
    )
