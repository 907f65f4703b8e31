"""The core's hooks through every web face (Starlette, FastAPI, the demo, WSGI, Flask)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette

from redtrust_flask import Redtrust
from redtrust_middleware import (
    AsyncSessionManager,
    ConfigurationError,
    Hooks,
    LoginEvent,
    LogoutEvent,
    LogoutReason,
    RedtrustASGIMiddleware,
    RedtrustWSGIMiddleware,
    RefreshEvent,
    SessionManager,
)
from redtrust_middleware.hooks import Event
from redtrust_middleware.testing import make_config
from redtrust_starlette import RedtrustMiddleware

from .conftest import APPS, Site, make_site

pytestmark = pytest.mark.anyio


@dataclass
class Heard:
    events: list[Event] = field(default_factory=list)
    failing: bool = False

    def hear(self, event: Event) -> None:
        self.events.append(event)
        if self.failing:
            raise RuntimeError(f"a hook bug {getattr(event, 'tokens', '')!r}")

    @property
    def hooks(self) -> Hooks:
        return Hooks(on_login=self.hear, on_refresh=self.hear, on_logout=self.hear)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(params=sorted(APPS))
async def heard_site(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Site, Heard]]:
    heard = Heard()
    built, _ = make_site(APPS[request.param], hooks=heard.hooks)
    async with built.browser:
        yield built, heard


async def test_sign_in_refresh_storm_and_sign_out_are_each_told_once(
    heard_site: tuple[Site, Heard],
) -> None:
    site, heard = heard_site
    await site.sign_in()
    (login,) = heard.of(LoginEvent)
    assert login.subject == "alice"
    site.clock.advance(310)
    site.sandbox.latency = 0.05
    answers = await asyncio.gather(*(site.browser.get("/api/me") for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert site.sandbox.calls["refresh"] == 1
    assert len(heard.of(RefreshEvent)) == 1
    out = await site.browser.post("/redtrust/logout", headers={"origin": "https://app.test"})
    assert out.status_code == 303
    assert heard.of(LogoutEvent) == [LogoutEvent(reason=LogoutReason.SIGNED_OUT, subject="alice")]


async def test_a_rejected_refresh_is_told_with_its_reason(heard_site: tuple[Site, Heard]) -> None:
    site, heard = heard_site
    await site.sign_in()
    site.sandbox.revoke("alice")
    site.clock.advance(310)
    assert (await site.browser.get("/api/me")).status_code == 401
    (logout,) = heard.of(LogoutEvent)
    assert (logout.reason, logout.subject) == (LogoutReason.REFRESH_REJECTED, "alice")


async def test_a_failing_hook_leaves_the_request_and_the_session_alone(
    heard_site: tuple[Site, Heard], caplog: pytest.LogCaptureFixture
) -> None:
    site, heard = heard_site
    heard.failing = True
    with caplog.at_level(logging.ERROR, logger="redtrust_middleware.hooks"):
        done = await site.sign_in()
        assert done.status_code == 303
        assert (await site.browser.get("/me")).status_code == 200
        site.clock.advance(250)
        refreshed = await site.browser.get("/api/me")
    assert refreshed.status_code == 200
    assert refreshed.json()["refreshed_now"] == "true"
    assert (await site.browser.get("/me")).status_code == 200
    assert len(heard.events) == 2
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
        "redtrust: on_login hook Heard.hear",
        "redtrust: on_refresh hook Heard.hear",
    ]
    for event in heard.events:
        tokens = event.tokens  # type: ignore[union-attr]
        assert tokens.access_token not in logged
        assert tokens.access_token not in repr(event)
        assert str(tokens.refresh_token) not in logged


def _flask(config: Any, hooks: Hooks) -> Flask:
    app = Flask("hooks")
    Redtrust(app, config=config, hooks=hooks)
    return app


def _hear(event: Event) -> None: ...


async def _ahear(event: Event) -> None: ...


FACES: dict[str, Callable[[Any, Hooks], Any]] = {
    "asgi": lambda config, hooks: RedtrustASGIMiddleware(Starlette(), config=config, hooks=hooks),
    "wsgi": lambda config, hooks: RedtrustWSGIMiddleware(Flask("x"), config=config, hooks=hooks),
    "flask": _flask,
    "starlette": lambda config, hooks: RedtrustMiddleware(Starlette(), config=config, hooks=hooks),
}


@pytest.mark.parametrize("face", sorted(FACES))
def test_each_face_takes_hooks_as_a_keyword(face: str) -> None:
    hooks = Hooks(on_login=_hear)
    built = FACES[face](make_config(), hooks)
    manager = built.manager if face != "flask" else built.extensions["redtrust"].manager
    assert isinstance(manager, SessionManager | AsyncSessionManager)
    assert manager.hooks is hooks


@pytest.mark.parametrize("face", ["wsgi", "flask"])
def test_sync_faces_refuse_async_hooks_when_built(face: str) -> None:
    with pytest.raises(ConfigurationError, match=r"hooks\.on_logout.*plain def"):
        FACES[face](make_config(), Hooks(on_logout=_ahear))
