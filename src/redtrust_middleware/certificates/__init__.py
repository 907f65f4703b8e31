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
  value is 1 to 64 UTF-8 bytes (255 for an attribute not built in) of printable characters;
  a country (``c``, jurisdictionC) is two ASCII letters (upper-cased); a PrintableString
  attribute (``serialnumber``, dnQualifier) its characters only; ``emailaddress`` and ``dc``
  ASCII.
* ``hash_type``: the ``hash_types`` setting, by default :data:`HASH_TYPES` (no SHA-1).
* ``key_type`` / ``key_length``: the ``key_lengths`` setting (``TYPE:LENGTH`` pairs), by
  default :data:`KEY_LENGTHS`. Only what the caller gives is sent.

Once ``csr/finalize`` succeeded the certificate is stored at Redtrust: an odd answer is then
returned with :attr:`IssuedCertificate.warnings`, never raised. A ``csr/create`` answer that
cannot be used raises :class:`~redtrust_middleware.exceptions.UnusableAnswerError` carrying
the request code when the answer had one.

The package's modules: :mod:`.dn` (the subject DN), :mod:`.requests` (the accepted values and
the validated request), :mod:`.answers` (reading the answers, and the results).
"""

from __future__ import annotations

from .answers import (
    CertificateInput,
    CsrRequest,
    Enrollment,
    IssuedCertificate,
    certificate_of,
    check_issued_for,
    parse_created,
    parse_finalized,
)
from .dn import (
    DN_ATTRIBUTES,
    DNAttribute,
    DNInput,
    dn_from_name,
    dn_to_name,
    is_dotted_oid,
    normalize_dn,
)
from .requests import (
    CSR_FIELDS,
    DEFAULT_KEY_LENGTHS,
    HASH_TYPES,
    KEY_LENGTHS,
    CsrOptions,
    CsrRules,
    CsrSpec,
    validate_request_code,
    validate_thumbprint,
)

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
