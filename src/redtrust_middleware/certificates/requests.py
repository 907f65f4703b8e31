"""What a ``csr/create`` request may carry: the accepted values (:class:`CsrRules`) and the
validated request (:class:`CsrSpec`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypedDict

from cryptography.x509.oid import ObjectIdentifier

from ..exceptions import InvalidInputError
from .dn import _NAME, DN_ATTRIBUTES, DNAttribute, DNInput, _printable, is_dotted_oid, normalize_dn

__all__ = [
    "CSR_FIELDS",
    "DEFAULT_KEY_LENGTHS",
    "HASH_TYPES",
    "KEY_LENGTHS",
    "CsrOptions",
    "CsrRules",
    "CsrSpec",
    "validate_request_code",
    "validate_thumbprint",
]

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
    """A certificate thumbprint as Redtrust gave it: 40 (SHA-1) or 64 (SHA-256) hex digits are
    upper-cased; any other form (1 to 256 visible ASCII characters, e.g. colon-separated) is
    kept as it is, since the docs fix no format and a finalize answer may have carried it."""
    if not isinstance(thumbprint, str) or not _CODE.fullmatch(thumbprint):
        raise InvalidInputError(
            field_name, "must be 1 to 256 visible ASCII characters, e.g. 40 hexadecimal digits"
        )
    return thumbprint.upper() if _THUMBPRINT.fullmatch(thumbprint) else thumbprint


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
