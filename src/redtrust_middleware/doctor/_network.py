"""``PUBLIC_URL``, and the connection to Redtrust: TCP, then TLS or plain HTTP."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from .._hosts import is_loopback
from ..config import RedtrustConfig
from ._report import Finding, Names

__all__ = ["check_connection", "check_public_url"]


def check_public_url(config: RedtrustConfig, name: Names, production: bool) -> list[Finding]:
    variable = name("public_url")
    if config.public_url is None:
        return [
            Finding(
                check="public_url",
                status="fail",
                message=f"{variable} is not set: the sign-in's RedirectUrl is built from it",
                fix=f"set {variable} to the address users open, e.g. https://app.example",
            )
        ]
    parts = urlsplit(config.public_url)
    host = parts.hostname or ""
    found: list[Finding] = []
    if parts.scheme == "http" and not is_loopback(host):
        found.append(
            Finding(
                check="public_url",
                status="fail" if production else "warn",
                message=f"{variable} uses plain http for {host}: the session cookie and the "
                "callback's one-time token would cross the network in clear",
                fix=f"serve the site over https and set {variable}=https://{parts.netloc}"
                f"{parts.path}",
            )
        )
    prefix = parts.path
    callback = config.callback_path
    if prefix and (callback == prefix or callback.startswith(prefix + "/")):
        found.append(
            Finding(
                check="public_url",
                status="fail",
                message=f"{variable} ends in {prefix}, and the callback path {callback} starts "
                f"with it too: RedirectUrl would be {config.public_url}{callback}",
                fix=f"drop the path from {variable} (the routes already carry the prefix): "
                f"{parts.scheme}://{parts.netloc}",
            )
        )
    if not found:
        found.append(
            Finding(
                check="public_url",
                status="ok",
                message=f"RedirectUrl is {config.redirect_url}"
                + ("?state=..." if config.nonce_in_redirect else "")
                + ": Redtrust must have it registered",
            )
        )
    return found


def check_connection(config: RedtrustConfig, name: Names, findings: list[Finding]) -> bool:
    """TCP, then TLS for https; appends the findings, True when the server can be used."""
    parts = urlsplit(config.server_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    variable = name("server_url")
    timeout = min(config.timeout, 5.0)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"the host {host} cannot be resolved",
                fix=f"check the host name in {variable}",
            )
        )
        return False
    except ConnectionRefusedError:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"nothing listens at {where} (connection refused)",
                fix=f"start Redtrust there, or fix the port in {variable} (the "
                f"{config.profile.name} profile's default is {config.profile.default_port})",
            )
        )
        return False
    except OSError as error:
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"could not connect to {where}: {error.strerror or type(error).__name__}",
                fix=f"check {variable} and that this machine may reach {where} (firewall, proxy)",
            )
        )
        return False
    with sock:
        if parts.scheme == "https":
            return _check_tls(config, name, sock, host, port, findings)
    answer = _plain_http_answer(host, port, timeout)
    if answer.startswith(b"HTTP/"):
        findings.append(Finding(check="server", status="ok", message=f"{where} answers plain HTTP"))
        return True
    if answer[:1] == b"\x15":  # a TLS alert record
        findings.append(
            Finding(
                check="server",
                status="fail",
                message=f"the server at {where} answered a TLS alert to plain HTTP",
                fix=f"use https:// in {variable}",
            )
        )
        return False
    findings.append(
        Finding(
            check="server",
            status="fail",
            message=f"the server at {where} did not answer HTTP",
            fix=f"check the port in {variable}",
        )
    )
    return False


def _check_tls(
    config: RedtrustConfig,
    name: Names,
    sock: socket.socket,
    host: str,
    port: int,
    findings: list[Finding],
) -> bool:
    where = f"{host}:{port}"
    context = ssl.create_default_context(cafile=config.ca_bundle)
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as error:
        findings.append(
            Finding(
                check="tls",
                status="fail",
                message=f"the certificate of {where} failed verification: "
                f"{error.verify_message or error.reason}",
                fix=f"for a private CA set {name('ca_bundle')} to its PEM file; for a name "
                f"mismatch use in {name('server_url')} the host name the certificate is for",
            )
        )
        return False
    except (ssl.SSLError, OSError) as error:
        if _plain_http_answer(host, port, min(config.timeout, 5.0)).startswith(b"HTTP/"):
            findings.append(
                Finding(
                    check="tls",
                    status="fail",
                    message=f"the server at {where} answered plain HTTP to a TLS handshake",
                    fix=f"use http:// in {name('server_url')} (loopback only) or fix the port",
                )
            )
        else:
            reason = getattr(error, "reason", None) or type(error).__name__
            findings.append(
                Finding(
                    check="tls",
                    status="fail",
                    message=f"the TLS handshake with {where} failed ({reason})",
                    fix=f"check the port in {name('server_url')} and the server's TLS settings",
                )
            )
        return False
    verified = "a verified certificate" if config.verify_tls else "NO certificate verification"
    findings.append(
        Finding(
            check="tls",
            status="ok" if config.verify_tls else "warn",
            message=f"{where}: {version} with {verified}",
            fix="" if config.verify_tls else f"turn {name('verify_tls')} back on",
        )
    )
    return True


def _plain_http_answer(host: str, port: int, timeout: float) -> bytes:
    """The first bytes a server sends back to a plain ``HEAD /`` (empty when it sends none)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
            return sock.recv(16)
    except OSError:
        return b""
