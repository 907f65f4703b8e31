"""One signed exchange of a made-up temporary token: the signature, then the clock.

A server that refuses the HMAC headers answers with a signature code (``INVALID_SIGNATURE``...),
one that accepts them refuses the token. No real token is consumed, and nothing else is sent.
"""

from __future__ import annotations

from typing import Any

from .. import _http
from .._clock import Clock
from ..calls import ClientCalls
from ..config import RedtrustConfig
from ..exceptions import APIError, ProtocolError, RedtrustError, UpstreamError
from ..signing import SIGNATURE_CODES
from ._report import Finding, Names

__all__ = ["CLOCK_FAIL_SECONDS", "CLOCK_WARN_SECONDS", "check_signature"]

#: Clock differences from the server's ``Date`` header (seconds, whole-second resolution).
CLOCK_WARN_SECONDS = 5
CLOCK_FAIL_SECONDS = 60
_PROBE_TOKEN = "redtrust-doctor-probe"


def check_signature(
    config: RedtrustConfig, name: Names, clock: Clock, transport: Any
) -> list[Finding]:
    calls = ClientCalls(config, None)
    request = calls.exchange(_PROBE_TOKEN).request
    found: list[Finding] = []
    with _http.make_client(config, transport) as client:
        try:
            raw = _http.send(
                client,
                operation=request.operation,
                method=request.method,
                url=request.url,
                headers=calls.headers(request, clock()),
                json_body=request.json_body,
                limit=config.max_response_bytes,
                time_limit=config.timeout,
            )
        except UpstreamError as error:
            return [
                Finding(
                    check="signature",
                    status="fail",
                    message=f"the signed request to {config.server_url} failed: {error}",
                    fix=f"check {name('server_url')}",
                )
            ]
        arrived = clock()
    found.append(_signature_finding(config, name, calls, raw, arrived))
    found.append(_clock_finding(raw.server_date, arrived, name))
    return found


def _signature_finding(
    config: RedtrustConfig, name: Names, calls: ClientCalls, raw: _http.RawResponse, now: float
) -> Finding:
    endpoint = config.profile.exchange
    try:
        calls.exchange(_PROBE_TOKEN).parse(raw, now)
    except APIError as error:
        return _refusal_finding(config, name, error)
    except ProtocolError as error:
        return Finding(
            check="signature",
            status="fail",
            message=f"{endpoint} answered HTTP {raw.status} but not as Redtrust does "
            f"({error.reason})",
            fix=f"check {name('server_url')} and {name('profile')} (or REDTRUST_ENDPOINT_EXCHANGE)",
        )
    except RedtrustError as error:
        return Finding(check="signature", status="fail", message=f"unexpected answer: {error}")
    return Finding(
        check="signature",
        status="fail",
        message="the server accepted a made-up temporary token: it is not a real Redtrust",
        fix=f"check {name('server_url')}",
    )


def _refusal_finding(config: RedtrustConfig, name: Names, error: APIError) -> Finding:
    partner, secret = name("partner"), name("shared_secret")
    code = error.code
    if code == "INVALID_SIGNATURE":
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the signature ({code}): the shared secret is not the "
            f"one Redtrust holds for partner {config.partner}",
            fix=f"set {secret} to the secret Redtrust gave for {config.partner}",
        )
    if code == "INVALID_PARTNER":
        return Finding(
            check="signature",
            status="fail",
            message=f"the server does not know partner {config.partner} ({code})",
            fix=f"set {partner} to the partner name Redtrust registered",
        )
    if code in ("STALE_TIMESTAMP", "INVALID_TIMESTAMP"):
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the signed timestamp ({code}): this machine's clock "
            "is off (see the clock check)",
            fix="synchronise the clock (NTP)",
        )
    if code in SIGNATURE_CODES:
        return Finding(
            check="signature",
            status="fail",
            message=f"the server refused the HMAC headers ({code}): {error.message}",
            fix="check that no proxy drops the x-partner-name, x-request-timestamp and "
            "x-hmac-signature headers",
        )
    if error.status in (404, 405) or code in ("NOT_FOUND", "METHOD_NOT_ALLOWED"):
        return Finding(
            check="signature",
            status="fail",
            message=f"{config.profile.exchange} is not served there ({code}, HTTP {error.status})",
            fix=f"check {name('profile')} (certificate-enroll or ra-api) and {name('server_url')}",
        )
    if error.is_rejection:
        return Finding(
            check="signature",
            status="ok",
            message=f"partner {config.partner}'s signature accepted; the made-up token was "
            f"refused as expected ({code})",
        )
    return Finding(
        check="signature",
        status="fail",
        message=f"the server answered HTTP {error.status} ({code}: {error.message})",
        fix="try again later, or ask the Redtrust administrators",
    )


def _clock_finding(server_date: float | None, now: float, name: Names) -> Finding:
    if server_date is None:
        return Finding(
            check="clock",
            status="warn",
            message="the server sent no Date header: the clocks could not be compared",
        )
    skew = int(now) - int(server_date)  # the Date header has whole seconds
    way = "ahead of" if skew > 0 else "behind"
    text = f"this machine's clock is {abs(skew)} s {way} the server's"
    if abs(skew) <= CLOCK_WARN_SECONDS:
        return Finding(
            check="clock", status="ok", message=f"within {CLOCK_WARN_SECONDS} s of the server's"
        )
    if abs(skew) <= CLOCK_FAIL_SECONDS:
        return Finding(
            check="clock",
            status="warn",
            message=f"{text}: still accepted, but a drifting clock ends in refused signatures",
            fix="synchronise the clock (NTP: timedatectl set-ntp true)",
        )
    return Finding(
        check="clock",
        status="fail",
        message=f"{text}: Redtrust refuses signed timestamps outside its window (not "
        "published; the sandbox allows 300 s) and token lifetimes are judged on this clock",
        fix="synchronise the clock (NTP: timedatectl set-ntp true)",
    )
