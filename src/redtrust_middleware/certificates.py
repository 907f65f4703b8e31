"""Certificate requests (RA API ``csr/create`` and ``csr/finalize``): inputs and results.

Pure code, no I/O: the validated request (:class:`CsrSpec`), the subject DN
(:class:`DNAttribute`), the parsers of the answers, and the frozen results
(:class:`CsrRequest`, :class:`IssuedCertificate`, :class:`Enrollment`). The clients in
:mod:`redtrust_middleware.client` send them. The sandbox checks requests with its own
rules, written from the documentation, so a mistake here shows up in the tests.

Redtrust publishes no list of accepted values nor the answers' field names
(``redtrust-api.md`` §5), so what the library accepts is a setting (:class:`CsrRules`, built
from :class:`~redtrust_middleware.config.RedtrustConfig`), with safe defaults:

* DN attributes: the names of :data:`DN_ATTRIBUTES` (case-insensitive, sent in lower case),
  names added with the ``dn_attributes`` setting, or any dotted OID (sent as given). Each
  value is 1 to 64 UTF-8 bytes of printable characters; a country (``c``, jurisdictionC) is
  two ASCII letters (upper-cased); a PrintableString attribute (``serialnumber``,
  dnQualifier) its characters only; ``emailaddress`` and ``dc`` ASCII.
* ``hash_type``: the ``hash_types`` setting, by default :data:`HASH_TYPES` (no SHA-1).
* ``key_type`` / ``key_length``: the ``key_lengths`` setting (``TYPE:LENGTH`` pairs), by
  default :data:`KEY_LENGTHS`. Only what the caller gives is sent.

Once ``csr/finalize`` succeeded the certificate is stored at Redtrust: an odd answer is then
returned with :attr:`IssuedCertificate.warnings`, never raised. A ``csr/create`` answer that
cannot be used raises :class:`~redtrust_middleware.exceptions.UnusableAnswerError` carrying
the request code when the answer had one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypedDict, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .exceptions import InvalidInputError, UnusableAnswerError

__all__ = [
    "CSR_FIELDS",
    "DEFAULT_KEY_LENGTHS",
    "DN_ATTRIBUTES",
    "HASH_TYPES",
    "KEY_LENGTHS",
    "CertificateInput",
    "CsrOptions",
    "CsrRequest",
    "CsrRules",
    "CsrSpec",
    "DNAttribute",
    "DNInput",
    "Enrollment",
    "IssuedCertificate",
    "certificate_of",
    "check_issued_for",
    "dn_from_name",
    "dn_to_name",
    "is_dotted_oid",
    "normalize_dn",
    "parse_created",
    "parse_finalized",
    "validate_request_code",
    "validate_thumbprint",
]

#: The built-in DN attribute names and the OIDs they stand for.
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
#: The default accepted hash algorithms for the CSR signature (the ``hash_types`` setting).
HASH_TYPES = ("SHA256", "SHA384", "SHA512")
#: The default accepted key lengths per key type (the ``key_lengths`` setting; for ``EC``, the
#: curve size: P-256, P-384).
KEY_LENGTHS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"RSA": (2048, 3072, 4096), "EC": (256, 384)}
)
#: The lengths the sandbox (and, presumably, Redtrust) uses when only the key type is sent.
DEFAULT_KEY_LENGTHS: Mapping[str, int] = MappingProxyType({"RSA": 2048, "EC": 256})
#: Where a ``csr/create`` answer may hold the CSR (PEM or base64 DER), tried in order: the
#: sandbox's ``csr`` first (the ``csr_fields`` setting).
CSR_FIELDS = ("csr", "csrPem", "csrBase64", "pkcs10", "certificateRequest", "request")

_MAX_DN_ATTRIBUTES = 32
_MAX_VALUE_BYTES = 64  # X.520's upper bound for most attributes (and cryptography's for cn)
# ASN.1 PrintableString (cryptography encodes c and serialNumber as one).
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")
_ASCII = re.compile(r"[\x20-\x7e]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Value rules by OID, the string types cryptography encodes them with.
_COUNTRY_OIDS = frozenset({"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3"})  # c, jurisdictionC
_PRINTABLE_OIDS = frozenset({"2.5.4.5", "2.5.4.46"})  # serialNumber, dnQualifier
_IA5_OIDS = frozenset({"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"})  # email, dc
# An attribute name (RFC 4512 descr) and a dotted OID (arcs without leading zeros).
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,19})(?:\.(?:0|[1-9][0-9]{0,19})){1,31}")
_MAX_OID_CHARS = 128
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}")
_CODE = re.compile(r"[\x21-\x7e]{1,256}")
_HASH_NAME = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
_KEY_TYPE = re.compile(r"[A-Z][A-Z0-9_-]{0,15}")
_KEY_LENGTH = re.compile(r"[1-9][0-9]{0,4}")
_MAX_KEY_LENGTH = 16384
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.$-]{1,64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_MAX_TEXT = 256
_MAX_INFO = 32
_MAX_GROUPS = 100
_MAX_GROUP_ID = 2**31 - 1
_MAX_PEM_CHARS = 64 * 1024


def _printable(text: str) -> bool:
    return all(c.isprintable() for c in text)


def is_dotted_oid(text: object) -> bool:
    """True for a well-formed dotted OID: decimal arcs without leading zeros, at least two,
    the first 0 to 2, the second below 40 under 0 and 1, at most 128 characters."""
    if not isinstance(text, str) or len(text) > _MAX_OID_CHARS or not _DOTTED.fullmatch(text):
        return False
    first, second = (int(arc) for arc in text.split(".")[:2])
    return first <= 2 and (first == 2 or second < 40)


def _resolve_oid(name: str, given: ObjectIdentifier | None) -> tuple[str, ObjectIdentifier]:
    """The attribute as sent (built-in names in lower case) and its OID."""
    lower = name.lower()
    if lower in DN_ATTRIBUTES:
        name, found = lower, DN_ATTRIBUTES[lower]
    elif is_dotted_oid(name):
        found = ObjectIdentifier(name)
    elif isinstance(given, ObjectIdentifier) and _NAME.fullmatch(name):
        return name, given  # a name of the dn_attributes setting, spelt as configured
    else:
        raise InvalidInputError(
            "dn",
            f"unknown attribute; accepted: {', '.join(DN_ATTRIBUTES)}, a dotted OID such as "
            "2.5.4.65, or a name added with the dn_attributes setting",
        )
    if given is not None and given != found:
        raise InvalidInputError("dn", f"{name} stands for {found.dotted_string}")
    return name, found


def _checked_value(name: str, oid: ObjectIdentifier, value: str) -> str:
    """A DN value, checked by its attribute's OID; a country upper-cased."""
    if not value or len(value.encode("utf-8", "surrogatepass")) > _MAX_VALUE_BYTES:
        raise InvalidInputError("dn", f"a {name} value must be 1 to 64 bytes in UTF-8")
    if not _printable(value):
        raise InvalidInputError("dn", f"a {name} value must not contain control characters")
    dotted = oid.dotted_string
    if dotted in _COUNTRY_OIDS:
        if not _COUNTRY.fullmatch(value):
            raise InvalidInputError("dn", f"{name} must be a two-letter country code")
        return value.upper()
    if dotted in _PRINTABLE_OIDS and not _PRINTABLE.fullmatch(value):
        raise InvalidInputError("dn", f"{name} allows letters, digits, space and '()+,-./:=?")
    if dotted in _IA5_OIDS and not _ASCII.fullmatch(value):
        raise InvalidInputError("dn", f"a {name} value must be ASCII")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DNAttribute:
    """One part of a subject DN, e.g. ``DNAttribute(attribute="cn", value="Alice")``.

    ``attribute`` is a built-in name (:data:`DN_ATTRIBUTES`, any case, kept in lower case), a
    dotted OID (``"2.5.4.65"``, kept as given), or any attribute name together with its
    ``oid`` (what the ``dn_attributes`` setting adds). Validated and normalised when built.

    Raises:
        InvalidInputError: (field ``dn``) an unknown attribute or an unacceptable value.
    """

    attribute: str
    value: str
    #: The attribute's X.509 object identifier; found from ``attribute`` when omitted.
    oid: ObjectIdentifier = field(default=cast(ObjectIdentifier, None), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.attribute, str) or not isinstance(self.value, str):
            raise InvalidInputError("dn", "attribute and value must be strings")
        given: object = self.oid
        if given is not None and not isinstance(given, ObjectIdentifier):
            raise InvalidInputError("dn", "oid must be an ObjectIdentifier")
        name, oid = _resolve_oid(self.attribute, given)
        object.__setattr__(self, "attribute", name)
        object.__setattr__(self, "value", _checked_value(name, oid, self.value))
        object.__setattr__(self, "oid", oid)


#: A subject DN as accepted by the clients: ``[("cn", "Alice"), ("c", "ES")]``, a sequence of
#: :class:`DNAttribute`, or a mapping ``{"cn": "Alice"}`` (one value per attribute, in order).
DNInput = Sequence[DNAttribute | tuple[str, str]] | Mapping[str, str]


def _part(part: object, extra: Mapping[str, tuple[str, ObjectIdentifier]]) -> DNAttribute:
    if isinstance(part, DNAttribute):
        return part
    if not isinstance(part, tuple) or len(part) != 2:
        raise InvalidInputError("dn", "each part must be an (attribute, value) pair")
    name, value = part
    configured = extra.get(name.lower()) if isinstance(name, str) else None
    if configured is not None and name.lower() not in DN_ATTRIBUTES:
        return DNAttribute(attribute=configured[0], value=value, oid=configured[1])
    return DNAttribute(attribute=name, value=value)


def normalize_dn(
    dn: DNInput, *, extra_attributes: Mapping[str, ObjectIdentifier] | None = None
) -> tuple[DNAttribute, ...]:
    """Validate a DN given in any accepted shape; the attributes in order.

    ``extra_attributes`` adds names (matched in any case, sent as spelt there) to the
    built-in ones, e.g. ``{"pseudonym": ObjectIdentifier("2.5.4.65")}``.

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
    extra = {name.lower(): (name, oid) for name, oid in (extra_attributes or {}).items()}
    result = []
    for index, part in enumerate(parts):
        try:
            result.append(_part(part, extra))
        except InvalidInputError as error:
            raise InvalidInputError(f"dn[{index}]", error.problem) from None
    return tuple(result)


def dn_to_name(dn: Sequence[DNAttribute]) -> x509.Name:
    """The X.509 name for a validated DN, one attribute per RDN, in order."""
    return x509.Name([x509.NameAttribute(part.oid, part.value) for part in dn])


def dn_from_name(
    name: x509.Name, *, extra_attributes: Mapping[str, ObjectIdentifier] | None = None
) -> tuple[DNAttribute, ...]:
    """The DN of a certificate's or CSR's subject, e.g. to renew it with the same subject.

    Built-in attributes come back by name, those of ``extra_attributes`` by their name there,
    any other as its dotted OID.

    Raises:
        InvalidInputError: (field ``dn``) an attribute whose value is not text, or a value
            the library does not accept.
    """
    names = {**_BY_OID, **{oid: key for key, oid in (extra_attributes or {}).items()}}
    parts = []
    for attribute in name:
        if not isinstance(attribute.value, str):
            raise InvalidInputError("dn", "the name holds an attribute whose value is not text")
        key = names.get(attribute.oid, attribute.oid.dotted_string)
        parts.append(DNAttribute(attribute=key, value=attribute.value, oid=attribute.oid))
    return normalize_dn(parts)


def _listed(value: object) -> tuple[object, ...]:
    """A setting's list (a tuple, or a list from a settings file); anything else is empty."""
    return tuple(value) if isinstance(value, tuple | list) else ()


def _key_lengths(entries: tuple[object, ...]) -> Mapping[str, tuple[int, ...]]:
    """``("RSA:2048", "EC:256")`` read into ``{"RSA": (2048,), "EC": (256,)}``."""
    if not entries:
        raise InvalidInputError("key_lengths", "must list TYPE:LENGTH pairs, e.g. RSA:2048")
    lengths: dict[str, list[int]] = {}
    for entry in entries:
        kind, _, length = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        kind = kind.strip().upper()
        length = length.strip()
        if (
            not _KEY_TYPE.fullmatch(kind)
            or not _KEY_LENGTH.fullmatch(length)
            or int(length) > _MAX_KEY_LENGTH
        ):
            raise InvalidInputError(
                "key_lengths", f"each entry must be TYPE:LENGTH (e.g. RSA:2048), not {entry!r}"
            )
        lengths.setdefault(kind, []).append(int(length))
    return MappingProxyType({kind: tuple(sizes) for kind, sizes in lengths.items()})


def _field_name(setting: str, value: object) -> str:
    if not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
        raise InvalidInputError(setting, "must be a JSON field name such as requestCode")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class CsrRules:
    """What a certificate request may hold and the field names of its calls.

    Built from :class:`~redtrust_middleware.config.RedtrustConfig` (its fields of the same
    names, see :meth:`~redtrust_middleware.config.RedtrustConfig.csr_rules`); a bare
    ``CsrRules()`` has the defaults, the sandbox's field names.

    Raises:
        InvalidInputError: naming the setting at fault.
    """

    #: Extra DN attribute names, name -> dotted OID (``{"pseudonym": "2.5.4.65"}``).
    dn_attributes: Mapping[str, str] = field(default_factory=dict)
    hash_types: tuple[str, ...] = HASH_TYPES
    #: ``TYPE:LENGTH`` pairs.
    key_lengths: tuple[str, ...] = tuple(
        f"{kind}:{size}" for kind, sizes in KEY_LENGTHS.items() for size in sizes
    )
    #: ``csr/create`` answer: where the CSR may be (tried in order) and the request code.
    csr_fields: tuple[str, ...] = CSR_FIELDS
    csr_request_code_field: str = "requestCode"
    #: ``csr/finalize`` request and answer field names.
    finalize_request_code_field: str = "requestCode"
    finalize_certificate_field: str = "certificate"
    finalize_id_field: str = "idCertificate"
    finalize_thumbprint_field: str = "thumbprint"
    #: Derived: the extra names with their OIDs, and the key lengths by type.
    extra_attributes: Mapping[str, ObjectIdentifier] = field(init=False, repr=False)
    lengths: Mapping[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        extra: dict[str, ObjectIdentifier] = {}
        if not isinstance(self.dn_attributes, Mapping):
            raise InvalidInputError("dn_attributes", "must map names to dotted OIDs")
        for name, dotted in self.dn_attributes.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise InvalidInputError(
                    "dn_attributes", f"{name!r} is not an attribute name (letters, digits, -)"
                )
            if name.lower() in DN_ATTRIBUTES or name.lower() in {n.lower() for n in extra}:
                raise InvalidInputError("dn_attributes", f"{name!r} is already a name")
            if not is_dotted_oid(dotted):
                raise InvalidInputError(
                    "dn_attributes", f"{name!r} must map to a dotted OID such as 2.5.4.65"
                )
            extra[name] = ObjectIdentifier(dotted)
        object.__setattr__(self, "dn_attributes", MappingProxyType(dict(self.dn_attributes)))
        object.__setattr__(self, "extra_attributes", MappingProxyType(extra))
        hashes = _listed(self.hash_types)
        if not hashes:
            raise InvalidInputError("hash_types", "must list at least one hash, e.g. SHA384")
        upper = tuple(h.strip().upper() if isinstance(h, str) else "" for h in hashes)
        if not all(_HASH_NAME.fullmatch(h) for h in upper):
            raise InvalidInputError("hash_types", "each must be a hash name such as SHA384")
        object.__setattr__(self, "hash_types", upper)
        object.__setattr__(self, "lengths", _key_lengths(_listed(self.key_lengths)))
        csr_fields = tuple(_field_name("csr_fields", name) for name in _listed(self.csr_fields))
        if not csr_fields:
            raise InvalidInputError("csr_fields", "must list at least one field name, e.g. csr")
        object.__setattr__(self, "csr_fields", csr_fields)
        for setting in (
            "csr_request_code_field",
            "finalize_request_code_field",
            "finalize_certificate_field",
            "finalize_id_field",
            "finalize_thumbprint_field",
        ):
            _field_name(setting, getattr(self, setting))
        if self.finalize_request_code_field == self.finalize_certificate_field:
            raise InvalidInputError(
                "finalize_certificate_field", "must differ from finalize_request_code_field"
            )
        if self.finalize_id_field == self.finalize_thumbprint_field:
            raise InvalidInputError(
                "finalize_thumbprint_field", "must differ from finalize_id_field"
            )

    @property
    def default_hash(self) -> str:
        """The ``hashType`` sent when the caller gives none (required by the docs): SHA384
        as in the documentation, else the first accepted."""
        return "SHA384" if "SHA384" in self.hash_types else self.hash_types[0]


class CsrOptions(TypedDict, total=False):
    """The optional fields of a certificate request (``csr/create``); only those given are
    sent, except ``hashType``, which the docs require (default ``SHA384``)."""

    #: ``SHA256``, ``SHA384`` (default) or ``SHA512`` (the ``hash_types`` setting).
    hash_type: str
    #: ``RSA`` or ``EC`` (the types of the ``key_lengths`` setting).
    key_type: str
    #: RSA: 2048, 3072, 4096; EC: 256 or 384 (the ``key_lengths`` setting).
    key_length: int
    #: The certificate provider, e.g. ``CAMERFIRMA``.
    provider: str
    #: Free-form string pairs kept with the request.
    info: Mapping[str, str]
    #: Redtrust certificate group ids.
    group_ids: Sequence[int]
    #: The documented ``requestCode`` of the request body (its meaning is not published).
    request_code: str


def _text(name: str, value: object, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(name, "must be a string")
    if not value or len(value) > limit:
        raise InvalidInputError(name, f"must be 1 to {limit} characters")
    if not _printable(value):
        raise InvalidInputError(name, "must not contain control characters")
    return value


def _key(options: Mapping[str, Any], rules: CsrRules) -> tuple[str | None, int | None]:
    """The key type and length the caller gave (each None when not given)."""
    lengths = rules.lengths
    kind = None
    if "key_type" in options:
        key_type = options["key_type"]
        if not isinstance(key_type, str) or key_type.upper() not in lengths:
            raise InvalidInputError("key_type", f"must be one of {', '.join(lengths)}")
        kind = key_type.upper()
    key_length = options.get("key_length")
    if key_length is None:
        return kind, None
    allowed = lengths[kind] if kind else tuple(sorted({n for ns in lengths.values() for n in ns}))
    if isinstance(key_length, bool) or not isinstance(key_length, int) or key_length not in allowed:
        for_kind = f" for {kind}" if kind else ""
        raise InvalidInputError(
            "key_length", f"must be one of {', '.join(map(str, allowed))}{for_kind}"
        )
    return kind, key_length


def _hash(hash_type: object, rules: CsrRules) -> str:
    if not isinstance(hash_type, str) or hash_type.upper() not in rules.hash_types:
        raise InvalidInputError("hash_type", f"must be one of {', '.join(rules.hash_types)}")
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


_DEFAULT_RULES = CsrRules()


@dataclass(frozen=True, slots=True, kw_only=True)
class CsrSpec:
    """A validated ``csr/create`` request; build it with :meth:`build`. ``None`` and empty
    fields are not sent."""

    dn: tuple[DNAttribute, ...]
    hash_type: str = "SHA384"
    key_type: str | None = None
    key_length: int | None = None
    provider: str | None = None
    info: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    group_ids: tuple[int, ...] = ()
    request_code: str | None = None
    thumbprint_to_renew: str | None = None

    @classmethod
    def build(
        cls,
        dn: DNInput,
        *,
        thumbprint_to_renew: str | None = None,
        rules: CsrRules = _DEFAULT_RULES,
        **options: Any,
    ) -> CsrSpec:
        """Validate every input against ``rules``; nothing is sent before this succeeds.

        Raises:
            InvalidInputError: naming the field (``dn``, ``dn[i]``, ``hash_type``, ...).
        """
        unknown = sorted(set(options) - set(CsrOptions.__annotations__))
        if unknown:
            raise InvalidInputError(unknown[0], "is not a certificate request option")
        key_type, key_length = _key(options, rules)
        provider, code = options.get("provider"), options.get("request_code")
        return cls(
            dn=normalize_dn(dn, extra_attributes=rules.extra_attributes),
            hash_type=_hash(options.get("hash_type", rules.default_hash), rules),
            key_type=key_type,
            key_length=key_length,
            provider=None if provider is None else _text("provider", provider, 64),
            info=_info(options.get("info", {})),
            group_ids=_groups(options.get("group_ids", ())),
            request_code=None if code is None else validate_request_code(code),
            thumbprint_to_renew=(
                None
                if thumbprint_to_renew is None
                else validate_thumbprint(thumbprint_to_renew, "thumbprint_to_renew")
            ),
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of ``csr/create``: ``dn``, ``hashType`` and what else is set."""
        optional: dict[str, Any] = {
            "keyLength": self.key_length,
            "keyType": self.key_type,
            "provider": self.provider,
            "info": dict(self.info) or None,
            "groupIds": list(self.group_ids) or None,
            "requestCode": self.request_code,
            "thumbprintToRenew": self.thumbprint_to_renew,
        }
        body: dict[str, Any] = {
            "dn": [{"attribute": p.attribute, "value": p.value} for p in self.dn],
            "hashType": self.hash_type,
        }
        body.update((name, value) for name, value in optional.items() if value is not None)
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
