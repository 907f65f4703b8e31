"""The example apps for the browser suite: each under a real server in a subprocess, signing
in against its own sandbox served over a socket (in this process, so tests can look inside).

Access tokens live :data:`ACCESS_TTL` seconds and are refreshed in their last
:data:`LEEWAY`: a refresh is due a couple of seconds after a sign-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import (
    django_command,
    example_env,
    free_port,
    gunicorn_command,
    manage_command,
    migrate,
    run_to_end,
    served,
    uvicorn_command,
)

from redtrust_middleware.sandbox import Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox.cli import DEMO_SECRET

APPS = ("starlette", "fastapi", "django", "flask", "wsgi")
#: Who may sign in on the sandbox page.
USERS = {"demo": "demo", "alice": "wonderland"}
ACCESS_TTL, LEEWAY = 32, 30.0


@dataclass(frozen=True, slots=True)
class Host:
    """Which example app, and the ``Referrer-Policy`` its own pages send (None: its default).

    Django runs under uvicorn (ASGI), and under ``runserver`` (WSGI) when a policy is set;
    Flask under gunicorn (one ``gthread`` worker: its sessions are in that process's memory).
    """

    app: str
    referrer_policy: str | None = None

    def __str__(self) -> str:
        return self.app if self.referrer_policy is None else f"{self.app}-{self.referrer_policy}"


HOSTS = tuple(Host(app) for app in APPS)
NO_REFERRER_HOSTS = tuple(Host(app, "no-referrer") for app in APPS)


@dataclass(frozen=True, slots=True)
class Site:
    """A running example app and the sandbox it signs in against."""

    host: Host
    url: str
    sandbox_url: str
    sandbox: Sandbox
    log: Path

    @property
    def sign_in_page(self) -> re.Pattern[str]:
        """The URL of the sandbox's sign-in page (any query)."""
        return re.compile(re.escape(f"{self.sandbox_url}/authclient/auth/loginrequest?") + ".*")


def _command(host: Host, port: int) -> list[str]:
    if host.app == "django":
        return django_command("runserver" if host.referrer_policy else "uvicorn", port)
    if host.app == "flask":
        return gunicorn_command("tests.browser.apps:flask_site()", port, workers=1)
    if host.app == "wsgi":
        return gunicorn_command("tests.browser.apps:wsgi_site()", port, workers=1)
    return uvicorn_command(f"tests.browser.apps:{host.app}", port)


@contextmanager
def started(
    host: Host, folder: Path, *, superusers: Sequence[str] = (), **env: str
) -> Iterator[Site]:
    """Serve ``host``'s app and a fresh sandbox until the block ends (logs in ``folder``).

    ``env``: more variables for the app (``REDTRUST_PROFILE``, say); ``superusers``: Django
    users made with ``manage.py createsuperuser`` before it starts (the admin's pages)."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        SandboxConfig(
            partners={"CA_DEMO": DEMO_SECRET},
            users=USERS,
            redirect_prefixes=(f"{app_url}/",),
            access_token_ttl=ACCESS_TTL,
        )
    )
    log = folder / "server.log"
    with running(sandbox) as sandbox_url:
        app_env = example_env(
            sandbox_url,
            app_url,
            REDTRUST_REFRESH_LEEWAY=str(LEEWAY),
            BROWSER_REFERRER_POLICY=host.referrer_policy or "",
            **env,
        )
        if host.app == "django":
            app_env["DJANGO_SETTINGS_MODULE"] = "tests.browser.django_settings"
            app_env["DJANGO_DB"] = str(folder / "db.sqlite3")
            migrate(app_env, log)
            for name in superusers:
                create = ("createsuperuser", "--noinput", "--username", name, "--email", "")
                run_to_end(manage_command(*create), app_env, log)
        with served(_command(host, port), app_env, log, app_url):
            yield Site(host=host, url=app_url, sandbox_url=sandbox_url, sandbox=sandbox, log=log)
