"""``redtrust sandbox`` / ``python -m redtrust_middleware.sandbox``: run a local Redtrust;
``redtrust sandbox-fault``: change the faults of one that is running.

The shared secret comes from ``--secret``, else the ``REDTRUST_SHARED_SECRET`` environment
variable, else a fixed, public demo secret (announced loudly; never use it anywhere real).
Only the demo secret is ever printed.

Both commands take the same fault options (``--latency``, ``--fail-next``,
``--misbehave-next``, ``--drop-next``): ``redtrust sandbox`` plans them at start-up,
``redtrust sandbox-fault`` sends them to ``POST /_sandbox/faults`` of a running sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, get_args

import httpx2

from ..exceptions import ConfigurationError
from ._config import ExpirationFormat, SandboxConfig
from ._faults import ANY_ENDPOINT, FAULT_SYNTAX, Fault, FaultChange, FaultKind, check_latency
from ._faults import parse_fault as _parse_fault
from ._hostile import HOSTILE_KINDS
from ._routes import ENDPOINTS
from ._sandbox import Sandbox
from .server import PortUnavailable, serve

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_URL",
    "DEMO_SECRET",
    "SECRET_ENV",
    "build_fault_parser",
    "build_parser",
    "fault_main",
    "main",
]

#: The built-in, public demo secret: for local experiments only.
DEMO_SECRET = "sandbox-demo-secret-0123456789abcdef"
#: Environment variable read when ``--secret`` is not given.
SECRET_ENV = "REDTRUST_SHARED_SECRET"
DEFAULT_REDIRECT_PREFIXES = ("http://127.0.0.1:8000/", "http://localhost:8000/")
#: The ports served without ``--port``: the tutorial's (``certificate-enroll``) and the RA API
#: pages' (``ra-api``), so a config of either profile with no explicit port reaches it.
DEFAULT_PORTS = (8083, 8082)
#: Where ``redtrust sandbox-fault`` looks for the sandbox by default.
DEFAULT_URL = "http://127.0.0.1:8083"
_FAULT_OPTIONS: dict[str, FaultKind] = {
    "fail_next": "fail",
    "misbehave_next": "hostile",
    "drop_next": "drop",
}


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError("expected name:password")
    return name, password


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError("expected a port number 1-65535, e.g. --port 8083")
    return int(text)


def _latency(text: str) -> float:
    try:
        return check_latency(float(text))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            "expected a number of seconds >= 0, e.g. --latency 2.5"
        ) from None


def _fault_type(kind: FaultKind) -> Callable[[str], Fault]:
    def parse(text: str) -> Fault:
        try:
            return _parse_fault(kind, text, ENDPOINTS)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    endpoints = ", ".join(sorted(ENDPOINTS))
    group = parser.add_argument_group(
        "faults",
        f"ENDPOINT is one of {endpoints}, or {ANY_ENDPOINT}; COUNT defaults to 1. "
        "Faults of one kind are taken in the order given.",
    )
    group.add_argument(
        "--latency",
        type=_latency,
        metavar="SECONDS",
        help="hold every answer back this long, after the call was handled (0 = none)",
    )
    group.add_argument(
        "--fail-next",
        action="append",
        type=_fault_type("fail"),
        default=[],
        metavar=FAULT_SYNTAX["fail"],
        help="answer the next COUNT calls with STATUS (400-599) instead of handling them; "
        "repeatable, e.g. refresh:503:3",
    )
    group.add_argument(
        "--misbehave-next",
        action="append",
        type=_fault_type("hostile"),
        default=[],
        metavar=FAULT_SYNTAX["hostile"],
        help="answer the next COUNT calls with a hostile answer instead of handling them "
        f"(KIND: {', '.join(sorted(HOSTILE_KINDS))}); repeatable",
    )
    group.add_argument(
        "--drop-next",
        action="append",
        type=_fault_type("drop"),
        default=[],
        metavar=FAULT_SYNTAX["drop"],
        help="handle the next COUNT calls, then close the connection without an answer; "
        "repeatable, e.g. refresh:2",
    )


def _fault_change(args: argparse.Namespace, *, clear: bool = False) -> FaultChange:
    faults = [fault for option in _FAULT_OPTIONS for fault in getattr(args, option)]
    return FaultChange(clear=clear, latency=args.latency, faults=tuple(faults))


def _describe_plan(latency: float, faults: Sequence[Fault]) -> list[str]:
    lines = [f"latency: {latency:g} s" if latency else "latency: none"]
    lines += [fault.describe() for fault in faults] or ["no faults planned"]
    return lines


def build_parser(prog: str = "redtrust sandbox") -> argparse.ArgumentParser:
    """The command line of the sandbox."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local Redtrust stand-in (login page and token API) for development.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument(
        "--port",
        action="append",
        type=_port,
        metavar="PORT",
        help="port to listen on; repeatable (default: both "
        f"{' and '.join(map(str, DEFAULT_PORTS))}, the default ports of the certificate-enroll "
        "and ra-api profiles)",
    )
    parser.add_argument("--partner", default="CA_DEMO", help="partner name (default: %(default)s)")
    parser.add_argument(
        "--secret",
        help=f"shared HMAC secret (default: ${SECRET_ENV}, else a public demo secret); "
        "prefer the environment variable: arguments are visible to other local users",
    )
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        metavar="NAME:PASSWORD",
        help="a user who may sign in; repeatable (default: demo:demo)",
    )
    parser.add_argument("--domain", help="the one accepted Domain (default: accept any)")
    parser.add_argument(
        "--redirect-prefix",
        action="append",
        metavar="URL",
        help="accepted RedirectUrl prefix; repeatable "
        f"(default: {' and '.join(DEFAULT_REDIRECT_PREFIXES)})",
    )
    parser.add_argument("--access-ttl", type=int, default=300, help="seconds (default: 300)")
    parser.add_argument(
        "--refreshed-access-ttl",
        type=int,
        metavar="SECONDS",
        help="lifetime of access tokens issued by a refresh (default: --access-ttl)",
    )
    parser.add_argument("--refresh-ttl", type=int, default=8 * 3600, help="seconds (default: 8 h)")
    parser.add_argument(
        "--window", type=int, default=300, help="timestamp window, ±seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--strict-signatures",
        action="store_true",
        help="ask for the three HMAC headers on every token and RA API call (default: as the "
        "docs say per endpoint: signed /authapi/ calls, an RA API needing none or a bearer)",
    )
    parser.add_argument(
        "--expiration-format",
        choices=get_args(ExpirationFormat),
        default="utc-z",
        help="how 'expiration' is written (default: %(default)s)",
    )
    _add_fault_arguments(parser)
    return parser


def _say(text: str, *, stream: str = "stdout") -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    out.write(text + "\n")
    out.flush()


def main(argv: Sequence[str] | None = None, *, prog: str = "redtrust sandbox") -> int:
    """Run the sandbox until interrupted; the process exit status."""
    args = build_parser(prog).parse_args(argv)
    if args.secret:
        secret, origin = args.secret, "from --secret"
    elif os.environ.get(SECRET_ENV):
        secret, origin = os.environ[SECRET_ENV], f"from ${SECRET_ENV}"
    else:
        secret, origin = DEMO_SECRET, f"the built-in demo secret {DEMO_SECRET!r}"
        _say(
            "WARNING: using the public demo secret; set "
            f"{SECRET_ENV} for anything but a local demo",
            stream="stderr",
        )
    users = dict(args.user or [("demo", "demo")])
    prefixes = tuple(args.redirect_prefix or DEFAULT_REDIRECT_PREFIXES)
    try:
        config = SandboxConfig(
            partners={args.partner: secret},
            users=users,
            domains=None if args.domain is None else frozenset({args.domain}),
            redirect_prefixes=prefixes,
            window_seconds=args.window,
            strict_signatures=args.strict_signatures,
            access_token_ttl=args.access_ttl,
            refresh_token_ttl=args.refresh_ttl,
            refreshed_access_token_ttl=args.refreshed_access_ttl,
            expiration_format=args.expiration_format,
        )
    except ConfigurationError as exc:
        _say(f"redtrust sandbox: {exc}", stream="stderr")
        return 2
    sandbox = Sandbox(config)
    change = _fault_change(args)
    sandbox.change_faults(change)
    ports = tuple(dict.fromkeys(args.port or DEFAULT_PORTS))
    host = f"[{args.host}]" if ":" in args.host else args.host
    _say(f"Redtrust sandbox on {' and '.join(f'http://{host}:{port}' for port in ports)}")
    _say(f"  partner: {args.partner} (secret {origin})")
    _say(f"  users: {', '.join(sorted(users))}")
    _say(f"  domain: {args.domain or 'any'}")
    _say(f"  redirect prefixes: {', '.join(prefixes)} (add one with --redirect-prefix)")
    _say(
        "  signatures: on every call (--strict-signatures)"
        if args.strict_signatures
        else "  signatures: per endpoint, as documented (--strict-signatures: on every call)"
    )
    if change.latency or change.faults:
        _say(f"  faults: {'; '.join(_describe_plan(sandbox.latency, sandbox.planned_faults()))}")
    _say("  fault control: POST /_sandbox/faults (loopback only), or redtrust sandbox-fault")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the way to stop it
            serve(sandbox, host=args.host, port=ports[0] if len(ports) == 1 else ports)
    except PortUnavailable as error:
        others = [port for port in ports if port != error.port]
        example = (
            f"--port {others[0]} to serve only that one"
            if others
            else f"--port {error.port % 65535 + 1}"
        )
        _say(
            f"{prog}: {error}: is another sandbox or server using port {error.port}? Stop it, "
            f"or choose the ports with --port PORT (repeatable), e.g. {example}",
            stream="stderr",
        )
        return 1
    return 0


def build_fault_parser(prog: str = "redtrust sandbox-fault") -> argparse.ArgumentParser:
    """The command line of ``redtrust sandbox-fault``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show or change the latency and the planned faults of a running sandbox "
        "(POST /_sandbox/faults; loopback only). Without options, show them.",
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="the sandbox's base URL (default: %(default)s)"
    )
    parser.add_argument(
        "--clear", action="store_true", help="forget the planned faults first (not the latency)"
    )
    _add_fault_arguments(parser)
    return parser


def _control(url: str, change: FaultChange | None) -> tuple[int, dict[str, Any]]:
    """Send the change (or read the plan); the status and the JSON envelope."""
    with httpx2.Client(base_url=url, timeout=10.0, follow_redirects=False) as client:
        if change is None:
            response = client.get("/_sandbox/faults")
        else:
            response = client.post("/_sandbox/faults", json=change.to_json())
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return response.status_code, {"message": "the answer is not a sandbox envelope"}
    return response.status_code, body


def fault_main(argv: Sequence[str] | None = None, *, prog: str = "redtrust sandbox-fault") -> int:
    """Show or change the faults of a running sandbox; the process exit status."""
    args = build_fault_parser(prog).parse_args(argv)
    change = _fault_change(args, clear=args.clear)
    wanted = change if (change.clear or change.latency is not None or change.faults) else None
    try:
        status, body = _control(args.url.rstrip("/"), wanted)
    except httpx2.HTTPError as error:
        _say(
            f"{prog}: cannot reach {args.url} ({type(error).__name__}); is the sandbox running?",
            stream="stderr",
        )
        return 1
    data = body.get("data")
    if status != 200 or not isinstance(data, dict):
        _say(
            f"{prog}: {status} {body.get('errorCode', '')}: {body.get('message')}", stream="stderr"
        )
        return 1
    plan = FaultChange.from_json({k: v for k, v in data.items() if k != "latency"}, ENDPOINTS)
    for line in _describe_plan(float(data.get("latency", 0.0)), plan.faults):
        _say(line)
    return 0
