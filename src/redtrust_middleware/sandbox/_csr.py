"""What the sandbox accepts in the RA API's certificate calls, and the CSR it makes.

Written for the sandbox from ``redtrust-api.md`` §4, sharing nothing with the library's
:mod:`redtrust_middleware.certificates`: a value the library wrongly lets through is refused
here, not waved on by the same allow-list.

A ``csr/create`` body (unknown fields are ignored; ``null`` counts as absent):

* ``dn`` (required): a list of ``{"attribute", "value"}`` string objects, 1 to 32 of them. The
  docs show ``cn``, ``o`` and ``c``; the sandbox also takes the other common X.520 names of
  :data:`DN_ATTRIBUTES` (case-insensitive) and any attribute given as a dotted OID (decimal
  arcs without leading zeros, the first 0 to 2, the second below 40 under 0 and 1, at most 128
  characters), which goes into the CSR's subject with that OID. A value is 1 to 64 UTF-8
  bytes of printable characters (255 for an attribute given by an OID not named here); a
  country (``c``, jurisdictionC ``1.3.6.1.4.1.311.60.2.1.3``) is two ASCII letters
  (upper-cased); ``serialnumber`` and dnQualifier ``2.5.4.46`` a PrintableString;
  ``emailaddress`` and ``dc`` ASCII.
* ``hashType`` (required): ``SHA256``, ``SHA384`` (the docs' example) or ``SHA512``.
* ``keyType``: ``RSA`` (the default, the docs' example) with ``keyLength`` 2048 (default, the
  docs' example), 3072 or 4096; or ``EC`` with 256 (P-256, default) or 384 (P-384).
* ``provider``: 1 to 64 printable characters. ``info``: at most 32 string pairs (keys up to 64
  characters, values up to 1024). ``groupIds``: at most 100 distinct ints 0 to 2**31-1.
* ``thumbprintToRenew``: 40 or 64 hex digits (compared upper-cased).
* ``requestCode``: a string if given (the RA API reference's sample sends one); its meaning is
  not published, so the sandbox keeps it with the request and answers its own code.

A ``csr/finalize`` body's ``certificate`` is one PEM certificate of at most 16 KiB.

The docs publish none of these value lists (§5): they are the sandbox's choice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ObjectIdentifier

from ._errors import INVALID_CERTIFICATE, Reject, bad_request

__all__ = [
    "DN_ATTRIBUTES",
    "HASH_TYPES",
    "KEY_LENGTHS",
    "CreateRequest",
    "PrivateKey",
    "attribute_oid",
    "new_key",
    "read_certificate",
    "read_create_body",
    "signed_csr",
]

PrivateKey = CertificateIssuerPrivateKeyTypes

#: DN attribute names the sandbox takes, and the OIDs it puts in the CSR's subject (written out
#: from X.520, RFC 4519 and PKCS #9, not taken from a library's table).
DN_ATTRIBUTES: Mapping[str, ObjectIdentifier] = MappingProxyType(
    {
        name: ObjectIdentifier(dotted)
        for name, dotted in (
            ("cn", "2.5.4.3"),
            ("o", "2.5.4.10"),
            ("ou", "2.5.4.11"),
            ("c", "2.5.4.6"),
            ("l", "2.5.4.7"),
            ("st", "2.5.4.8"),
            ("street", "2.5.4.9"),
            ("serialnumber", "2.5.4.5"),
            ("emailaddress", "1.2.840.113549.1.9.1"),
            ("givenname", "2.5.4.42"),
            ("surname", "2.5.4.4"),
            ("title", "2.5.4.12"),
            ("dc", "0.9.2342.19200300.100.1.25"),
            ("uid", "0.9.2342.19200300.100.1.1"),
            ("organizationidentifier", "2.5.4.97"),
        )
    }
)
#: ``hashType`` values and the hash the CSR is signed with.
HASH_TYPES: Mapping[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = MappingProxyType(
    {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
)
#: ``keyType`` -> the accepted ``keyLength`` values, the default first.
KEY_LENGTHS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"RSA": (2048, 3072, 4096), "EC": (256, 384)}
)
_CURVES: Mapping[int, type[ec.EllipticCurve]] = MappingProxyType(
    {256: ec.SECP256R1, 384: ec.SECP384R1}
)

_NAMED_OIDS = frozenset(oid.dotted_string for oid in DN_ATTRIBUTES.values())

#: Value rules by OID (dotted): two-letter countries, PrintableString and IA5String attributes.
_COUNTRIES = frozenset({"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3"})
_PRINTABLE_STRINGS = frozenset({"2.5.4.5", "2.5.4.46"})
_IA5_STRINGS = frozenset({"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"})
_OID_ARC = re.compile(r"0|[1-9][0-9]{0,19}")
_MAX_OID_TEXT = 128

_MAX_DN_PARTS = 32
_MAX_DN_VALUE_BYTES = 64  # the X.520 bound of the named attributes
_MAX_OTHER_DN_VALUE_BYTES = 255  # an attribute given by OID: the largest standard bound
_PRINTABLE_STRING = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")  # ASN.1 PrintableString
_VISIBLE_ASCII = re.compile(r"[\x20-\x7e]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}")
_MAX_INFO_ENTRIES = 32
_MAX_GROUP_IDS = 100
_MAX_GROUP_ID = 2**31 - 1
_MAX_CERTIFICATE_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    """An accepted ``csr/create`` body, normalised (names lower case, ``c`` and the types upper
    case, defaults filled in)."""

    #: ``(attribute, value)``: a known name in lower case, or a dotted OID as given.
    dn: tuple[tuple[str, str], ...]
    hash_type: str
    key_type: str
    key_length: int
    provider: str | None
    info: Mapping[str, str]
    group_ids: tuple[int, ...]
    thumbprint_to_renew: str | None
    #: The ``requestCode`` the caller sent, if any (kept, not used).
    given_request_code: str | None = None


def _dn_parts(value: object) -> list[tuple[str, str]]:
    if value is None:
        raise bad_request("field 'dn' is required")
    if not isinstance(value, list):
        raise bad_request("field 'dn' must be a list of {attribute, value} objects")
    parts = []
    for index, part in enumerate(value):
        if (
            not isinstance(part, dict)
            or set(part) != {"attribute", "value"}
            or not isinstance(part["attribute"], str)
            or not isinstance(part["value"], str)
        ):
            raise bad_request(f"field 'dn[{index}]' must be an object with string attribute, value")
        parts.append((part["attribute"], part["value"]))
    return parts


def _dotted_oid(text: str) -> ObjectIdentifier | None:
    """The OID a well-formed dotted string names (else None)."""
    arcs = text.split(".")
    if len(text) > _MAX_OID_TEXT or len(arcs) < 2 or not all(map(_OID_ARC.fullmatch, arcs)):
        return None
    first, second = int(arcs[0]), int(arcs[1])
    if first > 2 or (first < 2 and second >= 40):
        return None
    return ObjectIdentifier(text)


def attribute_oid(attribute: str) -> ObjectIdentifier | None:
    """The OID of an accepted DN attribute (a known name in any case, or a dotted OID)."""
    known = DN_ATTRIBUTES.get(attribute.lower())
    return known if known is not None else _dotted_oid(attribute)


def _dn_part(index: int, attribute: str, value: str) -> tuple[str, str]:
    where = f"field 'dn[{index}]'"
    oid = attribute_oid(attribute)
    if oid is None:
        raise bad_request(
            f"{where}: unknown attribute; accepted: {', '.join(DN_ATTRIBUTES)}, or a dotted OID"
        )
    name = attribute.lower()  # a dotted OID has no case
    # surrogatepass: JSON may carry a lone surrogate; it is refused as unprintable below.
    named = oid.dotted_string in _NAMED_OIDS
    limit = _MAX_DN_VALUE_BYTES if named else _MAX_OTHER_DN_VALUE_BYTES
    if not value or len(value.encode("utf-8", "surrogatepass")) > limit:
        raise bad_request(f"{where}: a {name} value must be 1 to {limit} bytes in UTF-8")
    if not value.isprintable():
        raise bad_request(f"{where}: a {name} value must not contain control characters")
    dotted = oid.dotted_string
    if dotted in _COUNTRIES:
        if not _COUNTRY.fullmatch(value):
            raise bad_request(f"{where}: {name} must be a two-letter country code")
        value = value.upper()
    elif dotted in _PRINTABLE_STRINGS and not _PRINTABLE_STRING.fullmatch(value):
        raise bad_request(f"{where}: {name} allows letters, digits, space and '()+,-./:=?")
    elif dotted in _IA5_STRINGS and not _VISIBLE_ASCII.fullmatch(value):
        raise bad_request(f"{where}: a {name} value must be ASCII")
    return name, value


def _dn(parts: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if not parts:
        raise bad_request("field 'dn': must have at least one attribute")
    if len(parts) > _MAX_DN_PARTS:
        raise bad_request(f"field 'dn': must have at most {_MAX_DN_PARTS} attributes")
    return tuple(_dn_part(index, *part) for index, part in enumerate(parts))


def _key(key_type: object, key_length: object) -> tuple[str, int]:
    if not isinstance(key_type, str) or key_type.upper() not in KEY_LENGTHS:
        raise bad_request(f"field 'keyType': must be one of {', '.join(KEY_LENGTHS)}")
    kind = key_type.upper()
    allowed = KEY_LENGTHS[kind]
    if key_length is None:
        return kind, allowed[0]
    if isinstance(key_length, bool) or not isinstance(key_length, int) or key_length not in allowed:
        lengths = ", ".join(map(str, allowed))
        raise bad_request(f"field 'keyLength': must be one of {lengths} for {kind}")
    return kind, key_length


def _hash(hash_type: object) -> str:
    if not isinstance(hash_type, str) or hash_type.upper() not in HASH_TYPES:
        raise bad_request(f"field 'hashType': must be one of {', '.join(HASH_TYPES)}")
    return hash_type.upper()


def _text(field: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise bad_request(f"field '{field}': must be a string")
    if not value or len(value) > limit:
        raise bad_request(f"field '{field}': must be 1 to {limit} characters")
    if not value.isprintable():
        raise bad_request(f"field '{field}': must not contain control characters")
    return value


def _info(info: object) -> Mapping[str, str]:
    if not isinstance(info, dict):
        raise bad_request("field 'info': must be a mapping of strings to strings")
    if len(info) > _MAX_INFO_ENTRIES:
        raise bad_request(f"field 'info': must have at most {_MAX_INFO_ENTRIES} entries")
    return MappingProxyType(
        {_text("info", key, 64): _text("info", value, 1024) for key, value in info.items()}
    )


def _group_ids(group_ids: object) -> tuple[int, ...]:
    if not isinstance(group_ids, list):
        raise bad_request("field 'groupIds': must be a sequence of ints")
    if len(group_ids) > _MAX_GROUP_IDS:
        raise bad_request(f"field 'groupIds': must have at most {_MAX_GROUP_IDS} ids")
    for group in group_ids:
        if isinstance(group, bool) or not isinstance(group, int):
            raise bad_request("field 'groupIds': every id must be an int")
        if not 0 <= group <= _MAX_GROUP_ID:
            raise bad_request(f"field 'groupIds': every id must be 0 to {_MAX_GROUP_ID}")
    if len(set(group_ids)) != len(group_ids):
        raise bad_request("field 'groupIds': must not repeat an id")
    return tuple(group_ids)


def _thumbprint(thumbprint: object) -> str:
    if not isinstance(thumbprint, str) or not _THUMBPRINT.fullmatch(thumbprint):
        raise bad_request("field 'thumbprintToRenew': must be 40 or 64 hexadecimal digits")
    return thumbprint.upper()


def read_create_body(body: Mapping[str, Any]) -> CreateRequest:
    """The accepted request in a ``csr/create`` JSON object.

    Raises :class:`~._errors.Reject` 400 ``INVALID_REQUEST`` naming the field. The checks run in
    a fixed order (the first problem is the one reported): ``hashType`` present,
    ``requestCode`` a string, the shape of ``dn``, ``keyType``/``keyLength``, each ``dn`` part,
    the ``hashType`` value, ``provider``, ``info``, ``groupIds``, ``thumbprintToRenew``.
    """
    if body.get("hashType") is None:
        raise bad_request("field 'hashType' is required")
    given_code = body.get("requestCode")
    if given_code is not None and not isinstance(given_code, str):
        raise bad_request("field 'requestCode' must be a string")
    parts = _dn_parts(body.get("dn"))
    key_type = body.get("keyType")
    key_type, key_length = _key("RSA" if key_type is None else key_type, body.get("keyLength"))
    dn = _dn(parts)
    provider, info, groups, renewed = (
        body.get(name) for name in ("provider", "info", "groupIds", "thumbprintToRenew")
    )
    return CreateRequest(
        dn=dn,
        hash_type=_hash(body["hashType"]),
        key_type=key_type,
        key_length=key_length,
        provider=None if provider is None else _text("provider", provider, 64),
        info=MappingProxyType({}) if info is None else _info(info),
        group_ids=() if groups is None else _group_ids(groups),
        thumbprint_to_renew=None if renewed is None else _thumbprint(renewed),
        given_request_code=given_code,
    )


def new_key(request: CreateRequest) -> PrivateKey:
    """A new private key of the requested type and length (slow for RSA: call outside locks)."""
    if request.key_type == "EC":
        return ec.generate_private_key(_CURVES[request.key_length]())
    return rsa.generate_private_key(public_exponent=65537, key_size=request.key_length)


def signed_csr(request: CreateRequest, key: PrivateKey) -> x509.CertificateSigningRequest:
    """The CSR for the request's DN (one attribute per RDN, in order), signed with ``key`` and
    the requested hash."""
    parts = []
    for attribute, value in request.dn:
        oid = attribute_oid(attribute)
        assert oid is not None  # read_create_body accepted it
        parts.append(x509.NameAttribute(oid, value))
    subject = x509.Name(parts)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    return builder.sign(key, HASH_TYPES[request.hash_type]())


def read_certificate(text: object) -> x509.Certificate:
    """The ``certificate`` field of a ``csr/finalize`` body: one PEM certificate, at most
    16 KiB of text.

    Raises :class:`~._errors.Reject`: 400 ``INVALID_REQUEST`` when the field is missing, not a
    string or too long; 400 ``INVALID_CERTIFICATE`` when it is not a PEM certificate.
    """
    if text is None:
        raise bad_request("field 'certificate' is required")
    if not isinstance(text, str) or len(text) > _MAX_CERTIFICATE_CHARS:
        raise bad_request("field 'certificate' must be PEM text of at most 16 KiB")
    pem = text.encode("ascii", "replace")  # PEM is ASCII: anything else cannot parse anyway
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            return x509.load_pem_x509_certificate(pem)
        except ValueError:
            pass
    raise Reject(400, INVALID_CERTIFICATE, "field 'certificate' is not a PEM certificate")
