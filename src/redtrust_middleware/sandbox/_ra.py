"""The RA API handlers: ``csr/create`` generates a key pair and a CSR, ``csr/finalize`` stores
the certificate the partner's CA issued for it.

Accepted values (``redtrust-api.md`` §5 leaves them unpublished; these are the library's
allow-lists from :mod:`redtrust_middleware.certificates`): ``hashType`` ``SHA256``,
``SHA384``, ``SHA512``; ``keyType`` ``RSA`` (default) with ``keyLength`` 2048 (default), 3072
or 4096, or ``EC`` with 256 (P-256, default) or 384 (P-384). ``requestCode`` in a create body
is accepted and ignored (its meaning is not published); unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..certificates import CsrSpec, certificate_of, dn_to_name
from ..exceptions import InvalidInputError
from ._auth import Services, signed_user
from ._enroll import PrivateKey
from ._errors import INVALID_CERTIFICATE, OK, Reject, bad_request
from ._http import envelope, json_object, required_text

__all__ = ["csr_create", "csr_finalize"]

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
_CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1}
# Library argument -> body field, so refusals name what the caller sent.
_WIRE = {
    "hash_type": "hashType",
    "key_type": "keyType",
    "key_length": "keyLength",
    "group_ids": "groupIds",
    "thumbprint_to_renew": "thumbprintToRenew",
}
_OPTIONAL = {"hashType": "hash_type", "keyType": "key_type", "keyLength": "key_length"}
_OPTIONAL |= {"provider": "provider", "info": "info", "groupIds": "group_ids"}
_MAX_CERTIFICATE_CHARS = 16 * 1024


def _dn(body: dict[str, Any]) -> list[tuple[str, str]]:
    parts = body.get("dn")
    if parts is None:
        raise bad_request("field 'dn' is required")
    if not isinstance(parts, list):
        raise bad_request("field 'dn' must be a list of {attribute, value} objects")
    dn = []
    for index, part in enumerate(parts):
        if (
            not isinstance(part, dict)
            or set(part) != {"attribute", "value"}
            or not isinstance(part["attribute"], str)
            or not isinstance(part["value"], str)
        ):
            raise bad_request(f"field 'dn[{index}]' must be an object with string attribute, value")
        dn.append((part["attribute"], part["value"]))
    return dn


def _spec(body: dict[str, Any]) -> CsrSpec:
    """The request, checked with the library's own validation (the same allow-lists)."""
    if body.get("hashType") is None:
        raise bad_request("field 'hashType' is required")
    if body.get("requestCode") is not None and not isinstance(body["requestCode"], str):
        raise bad_request("field 'requestCode' must be a string")
    options = {name: body[wire] for wire, name in _OPTIONAL.items() if body.get(wire) is not None}
    try:
        return CsrSpec.build(
            _dn(body), thumbprint_to_renew=body.get("thumbprintToRenew"), **options
        )
    except InvalidInputError as error:
        wire = _WIRE.get(error.field, error.field)
        raise bad_request(f"field '{wire}': {error.problem}") from None


def _new_key(spec: CsrSpec) -> PrivateKey:
    if spec.key_type == "EC":
        return ec.generate_private_key(_CURVES[spec.key_length]())
    return rsa.generate_private_key(public_exponent=65537, key_size=spec.key_length)


def csr_create(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /raapi/v1/csr/create``: a new key pair kept here, and a CSR signed with it."""
    partner, username = signed_user(sv, request)
    spec = _spec(json_object(request))
    if spec.thumbprint_to_renew is not None:
        sv.enrollment.check_renewable(username, spec.thumbprint_to_renew)
    # Outside any lock: RSA key generation takes a while and must not stall other calls.
    key = _new_key(spec)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(dn_to_name(spec.dn))
        .sign(key, _HASHES[spec.hash_type]())
    )
    code = sv.enrollment.open_request(username=username, partner=partner, spec=spec, key=key)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return envelope(200, OK, "certificate request created", {"csr": pem, "requestCode": code})


def csr_finalize(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``PUT /raapi/v1/csr/finalize``: store the issued certificate of a pending request."""
    partner, username = signed_user(sv, request)
    body = json_object(request)
    code = required_text(body, "requestCode")
    text = body.get("certificate")
    if text is None:
        raise bad_request("field 'certificate' is required")
    if not isinstance(text, str) or len(text) > _MAX_CERTIFICATE_CHARS:
        raise bad_request("field 'certificate' must be PEM text of at most 16 KiB")
    try:
        certificate = certificate_of(text)
    except InvalidInputError:
        raise Reject(
            400, INVALID_CERTIFICATE, "field 'certificate' is not a PEM certificate"
        ) from None
    info = sv.enrollment.finalize(
        username=username, partner=partner, request_code=code, certificate=certificate
    )
    data = {"idCertificate": info.id_certificate, "thumbprint": info.thumbprint}
    return envelope(200, OK, "certificate stored", data)
