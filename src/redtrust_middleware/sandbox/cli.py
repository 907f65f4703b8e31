"""``redtrust sandbox`` / ``python -m redtrust_middleware.sandbox``: run a local Redtrust.

The shared secret comes from ``--secret``, else the ``REDTRUST_SHARED_SECRET`` environment
variable, else a fixed, public demo secret (announced loudly; never use it anywhere real).
Only the demo secret is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import get_args

from ..exceptions import ConfigurationError
from ._config import ExpirationFormat, SandboxConfig
from ._sandbox import Sandbox
from .server import serve

__all__ = ["DEMO_SECRET", "SECRET_ENV", "build_parser", "main"]

#: The built-in, public demo secret: for local experiments only.
DEMO_SECRET = "sandbox-demo-secret-0123456789abcdef"
#: Environment variable read when ``--secret`` is not given.
SECRET_ENV = "REDTRUST_SHARED_SECRET"
DEFAULT_REDIRECT_PREFIXES = ("http://127.0.0.1:8000/", "http://localhost:8000/")


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError("expected name:password")
    return name, password


def build_parser(prog: str = "redtrust sandbox") -> argparse.ArgumentParser:
    """The command line of the sandbox."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local Redtrust stand-in (login page and token API) for development.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8083, help="port (default: %(default)s)")
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
    parser.add_argument("--refresh-ttl", type=int, default=8 * 3600, help="seconds (default: 8 h)")
    parser.add_argument(
        "--window", type=int, default=300, help="timestamp window, ±seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--expiration-format",
        choices=get_args(ExpirationFormat),
        default="utc-z",
        help="how 'expiration' is written (default: %(default)s)",
    )
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
            access_token_ttl=args.access_ttl,
            refresh_token_ttl=args.refresh_ttl,
            expiration_format=args.expiration_format,
        )
    except ConfigurationError as exc:
        _say(f"redtrust sandbox: {exc}", stream="stderr")
        return 2
    host = f"[{args.host}]" if ":" in args.host else args.host
    _say(f"Redtrust sandbox on http://{host}:{args.port}")
    _say(f"  partner: {args.partner} (secret {origin})")
    _say(f"  users: {', '.join(sorted(users))}")
    _say(f"  domain: {args.domain or 'any'}")
    _say(f"  redirect prefixes: {', '.join(prefixes)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the way to stop it
        serve(Sandbox(config), host=args.host, port=args.port)
    return 0
