"""The RA API handlers: ``csr/create`` generates a key pair and a CSR, ``csr/finalize`` stores
the certificate the partner's CA issued for it.

What a body may hold is checked by :mod:`._csr` (the sandbox's own rules, not the library's);
what the caller may do with a request code by :class:`~._enroll.EnrollmentState`.
"""

from __future__ import annotations

import httpx2
from cryptography.hazmat.primitives import serialization

from ._auth import Services, signed_user
from ._csr import new_key, read_certificate, read_create_body, signed_csr
from ._errors import OK
from ._http import envelope, json_object, required_text

__all__ = ["csr_create", "csr_finalize"]


def csr_create(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``POST /raapi/v1/csr/create``: a new key pair kept here, and a CSR signed with it."""
    partner, username = signed_user(sv, request)
    wanted = read_create_body(json_object(request))
    if wanted.thumbprint_to_renew is not None:
        sv.enrollment.check_renewable(username, wanted.thumbprint_to_renew)
    # Outside any lock: RSA key generation takes a while and must not stall other calls.
    key = new_key(wanted)
    csr = signed_csr(wanted, key)
    code = sv.enrollment.open_request(username=username, partner=partner, spec=wanted, key=key)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return envelope(200, OK, "certificate request created", {"csr": pem, "requestCode": code})


def csr_finalize(sv: Services, request: httpx2.Request) -> httpx2.Response:
    """``PUT /raapi/v1/csr/finalize``: store the issued certificate of a pending request."""
    partner, username = signed_user(sv, request)
    body = json_object(request)
    code = required_text(body, "requestCode")
    certificate = read_certificate(body.get("certificate"))
    info = sv.enrollment.finalize(
        username=username, partner=partner, request_code=code, certificate=certificate
    )
    data = {"idCertificate": info.id_certificate, "thumbprint": info.thumbprint}
    return envelope(200, OK, "certificate stored", data)
