"""The subject DN of a certificate request: attribute names, OIDs and value rules."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from ..exceptions import InvalidInputError

__all__ = [
    "DN_ATTRIBUTES",
    "DNAttribute",
    "DNInput",
    "dn_from_name",
    "dn_to_name",
    "is_dotted_oid",
    "normalize_dn",
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

_MAX_DN_ATTRIBUTES = 32
_MAX_VALUE_BYTES = 64  # X.520's upper bound for most attributes (and cryptography's for cn)
# Attributes this module does not know by name (given by OID or added with the
# ``dn_attributes`` setting) may be longer: pseudonym and businessCategory allow 128
# characters; 255 bytes is the largest standard upper bound (emailAddress).
_MAX_OTHER_VALUE_BYTES = 255
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
    limit = _MAX_VALUE_BYTES if oid in _BY_OID else _MAX_OTHER_VALUE_BYTES
    if not value or len(value.encode("utf-8", "surrogatepass")) > limit:
        raise InvalidInputError("dn", f"a {name} value must be 1 to {limit} bytes in UTF-8")
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
