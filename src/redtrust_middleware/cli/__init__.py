"""The ``redtrust`` command: sandbox, demo, walkthrough, login-url, doctor.

The tooling around the library, kept out of its core: :mod:`.walkthrough` (the scripted
flow), :mod:`.webdemo` (``redtrust demo``: the sandbox and :mod:`.demoapp` served together)
and :mod:`.pages` (the demo app's HTML, which the examples share). Nothing here imports a web
framework or a private sandbox module, so an installed package runs every command.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from .._clock import system_clock
from ..config import RedtrustConfig
from ..exceptions import RedtrustError

__all__ = ["main"]

_USAGE = """usage: redtrust COMMAND [options]   (redtrust --version: the installed version)

commands:
  sandbox       run a local Redtrust (the sandbox) on 127.0.0.1:8083 and :8082
  sandbox-fault show or change the latency and planned faults of a running sandbox
  demo          the sandbox and a demo app together on localhost: open the page, sign in
                as demo/demo, watch the token refresh; Ctrl-C stops both
  walkthrough   login, exchange, refresh, replay, logout and direct login, step by step,
                against a sandbox started on a free local port
  login-url     print a signed login URL for the REDTRUST_* configuration (for manual tests:
                the state nonce in it is not stored, so no app can complete that callback)
  doctor        check a deployment: the REDTRUST_* settings, PUBLIC_URL, TLS, one signed
                request, the clock, the JWK set and Redis (--redis-url)

Run 'redtrust COMMAND --help' for a command's options."""


def _sandbox(argv: Sequence[str]) -> int:
    from ..sandbox.cli import main as sandbox_main

    return sandbox_main(argv)


def _sandbox_fault(argv: Sequence[str]) -> int:
    from ..sandbox.cli import fault_main

    return fault_main(argv)


def _demo(argv: Sequence[str]) -> int:
    from .webdemo import main as webdemo_main

    return webdemo_main(argv)


def _walkthrough(argv: Sequence[str]) -> int:
    from .walkthrough import main as walkthrough_main

    return walkthrough_main(argv)


def _login_url(argv: Sequence[str]) -> int:
    from ..login import build_login_url, login_redirect_url, new_handle

    parser = argparse.ArgumentParser(
        prog="redtrust login-url", description="Print a signed loginrequest URL."
    )
    parser.add_argument(
        "--redirect-url", help="RedirectUrl (default: REDTRUST_PUBLIC_URL + the callback path)"
    )
    args = parser.parse_args(argv)
    config = RedtrustConfig.from_env()
    redirect = args.redirect_url or config.redirect_url
    if redirect is None:
        raise SystemExit("set REDTRUST_PUBLIC_URL or pass --redirect-url")
    if not args.redirect_url:
        redirect = login_redirect_url(config, redirect, new_handle())
    print(build_login_url(config, redirect_url=redirect, now=system_clock()))
    return 0


def _doctor(argv: Sequence[str]) -> int:
    import os

    from ..config import read_environment
    from ..doctor import REDIS_URL_ENV, run_checks, settings_findings

    parser = argparse.ArgumentParser(
        prog="redtrust doctor",
        description="Check everything a deployment needs: the REDTRUST_* settings (every "
        "problem at once), PUBLIC_URL, the connection and TLS to Redtrust, one signed "
        "request, the clock, the JWK set and Redis. Exit status 1 when a check fails.",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_URL_ENV) or None,
        help=f"the store's Redis (default: ${REDIS_URL_ENV}; unset: no Redis check)",
    )
    parser.add_argument(
        "--development",
        action="store_true",
        help="a plain-http PUBLIC_URL on a public host is a warning, not a failure",
    )
    args = parser.parse_args(argv)
    collected = read_environment(os.environ, capture=True)
    report = run_checks(
        collected.config,
        settings=settings_findings(collected),
        broken={problem.field for problem in collected.problems},
        production=not args.development,
        redis_url=args.redis_url,
    )
    print("\n".join(report.lines()))
    return report.exit_code


_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sandbox": _sandbox,
    "sandbox-fault": _sandbox_fault,
    "demo": _demo,
    "walkthrough": _walkthrough,
    "login-url": _login_url,
    "doctor": _doctor,
}


#: The optional packages a command imports, each with the extra that installs it.
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "sandbox": (("uvicorn", "sandbox"),),
    "demo": (("uvicorn", "sandbox"),),
    "walkthrough": (("uvicorn", "sandbox"),),  # it serves a sandbox on a local port
}


def _missing_extra(command: str) -> str | None:
    """The one line to print when ``command`` needs a package that is not installed, else None.

    Checked before the command prints anything, so a missing extra is one clear line and
    not a banner followed by a traceback.
    """
    for module, extra in _NEEDS.get(command, ()):
        if importlib.util.find_spec(module) is None:
            return (
                f"redtrust {command}: needs {module}, which is not installed; "
                f'install the {extra} extra: pip install "redtrust-middleware[{extra}]"'
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``redtrust`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(_USAGE)
        return 0
    if args and args[0] in ("-V", "--version"):
        print(f"redtrust-middleware {__version__}")
        return 0
    if not args or args[0] not in _COMMANDS:
        if args:
            print(f"redtrust: unknown command {args[0]!r}\n", file=sys.stderr)
        print(_USAGE, file=sys.stderr)
        return 2
    missing = _missing_extra(args[0])
    if missing is not None and not {"-h", "--help"} & set(args[1:]):  # help needs no extra
        print(missing, file=sys.stderr)
        return 2
    if args[0] != "sandbox":  # the sandbox sets up its own request log
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        return _COMMANDS[args[0]](args[1:])
    except RedtrustError as error:
        print(f"redtrust: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
