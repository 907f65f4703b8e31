"""The ``redtrust`` command: sandbox, demo, walkthrough, login-url, doctor."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ._clock import system_clock
from .config import RedtrustConfig
from .exceptions import RedtrustError

__all__ = ["main"]

_USAGE = """usage: redtrust COMMAND [options]

commands:
  sandbox       run a local Redtrust (the sandbox) on 127.0.0.1:8083
  demo          the main demo: the whole flow against the sandbox
  walkthrough   the scripted walkthrough of login, exchange, refresh and logout
  login-url     print a signed login URL for the REDTRUST_* configuration
  doctor        check the REDTRUST_* configuration and reach the server

Run 'redtrust COMMAND --help' for a command's options."""


def _sandbox(argv: Sequence[str]) -> int:
    from .sandbox.cli import main as sandbox_main

    return sandbox_main(argv)


def _walkthrough(argv: Sequence[str]) -> int:
    from .demo import main as demo_main

    return demo_main(argv)


def _login_url(argv: Sequence[str]) -> int:
    from .flow import build_login_url, login_redirect_url, new_handle

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
    from . import _http

    argparse.ArgumentParser(
        prog="redtrust doctor", description="Check the configuration and reach the server."
    ).parse_args(argv)
    config = RedtrustConfig.from_env()
    print(
        f"configuration ok: {config.server_url} partner {config.partner} "
        f"profile {config.profile.name}"
    )
    with _http.make_client(config) as client:
        try:
            response = client.get(config.server_url + "/authclient/auth/loginrequest")
        except Exception as error:
            print(f"cannot reach {config.server_url}: {type(error).__name__}")
            return 1
    print(
        f"server reachable: HTTP {response.status_code} from the login page without a "
        "signature (an error status is expected)"
    )
    return 0


_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sandbox": _sandbox,
    "demo": _walkthrough,
    "walkthrough": _walkthrough,
    "login-url": _login_url,
    "doctor": _doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``redtrust`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in _COMMANDS:
        print(_USAGE, file=sys.stderr if args and args[0] not in ("-h", "--help") else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    try:
        return _COMMANDS[args[0]](args[1:])
    except RedtrustError as error:
        print(f"redtrust: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
