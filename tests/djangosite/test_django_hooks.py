"""REDTRUST["HOOKS"] and the signals, from one source: the core's events (WSGI and ASGI)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from redtrust_django import signals
from redtrust_django.conf import get_runtime, inspect_settings
from redtrust_middleware import (
    ConfigurationError,
    LoginEvent,
    LogoutEvent,
    LogoutReason,
    RefreshEvent,
)
from redtrust_middleware.hooks import Event

from .conftest import ORIGIN, DjangoSite

HEARD: list[Event] = []
FAILING: list[bool] = []


def hear(event: Event) -> None:
    HEARD.append(event)
    if FAILING:
        raise RuntimeError("a hook bug")


async def ahear(event: Event) -> None:
    hear(event)


@pytest.fixture(params=["sync", "async"])
def hooked(request: pytest.FixtureRequest, settings: Any) -> Iterator[list[Any]]:
    """REDTRUST["HOOKS"] naming plain or async hooks by dotted path; the signals heard."""
    path = f"{__name__}.{'hear' if request.param == 'sync' else 'ahear'}"
    hooks = {"on_login": path, "on_refresh": path, "on_logout": path}
    heard: list[Any] = []

    def listen(name: str) -> Any:
        def receive(**kwargs: Any) -> None:
            heard.append((name, kwargs))

        return receive

    receivers = {
        signals.redtrust_logged_in: listen("in"),
        signals.token_refreshed: listen("refreshed"),
        signals.redtrust_logged_out: listen("out"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    HEARD.clear()
    FAILING.clear()
    with override_settings(REDTRUST={**settings.REDTRUST, "HOOKS": hooks}):
        yield heard
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


def test_hooks_and_signals_tell_the_same_events(dsite: DjangoSite, hooked: list[Any]) -> None:
    dsite.sign_in()
    dsite.clock.advance(250)
    assert dsite.get("/api/me").status_code == 200  # refreshed here
    assert dsite.get("/api/me").status_code == 200  # not again
    assert dsite.post("/redtrust/logout", ORIGIN).status_code == 303
    assert [type(e) for e in HEARD] == [LoginEvent, RefreshEvent, LogoutEvent]
    assert [name for name, _ in hooked] == ["in", "refreshed", "out"]
    for event, (_, kwargs) in zip(HEARD, hooked, strict=True):
        assert kwargs["event"] is event
        assert "request" in kwargs
    assert hooked[0][1]["context"].subject == "alice"
    assert hooked[2][1]["reason"] == "logout"  # the signal's own value, as always
    assert HEARD[2] == LogoutEvent(reason=LogoutReason.SIGNED_OUT, subject="alice")


def test_a_rejected_refresh_is_told_with_its_reason(dsite: DjangoSite, hooked: list[Any]) -> None:
    dsite.sign_in()
    dsite.sandbox.revoke("alice")
    dsite.clock.advance(310)
    assert dsite.get("/api/me").status_code == 401
    (logout,) = [e for e in HEARD if isinstance(e, LogoutEvent)]
    assert (logout.reason, logout.subject) == (LogoutReason.REFRESH_REJECTED, "alice")
    name, kwargs = hooked[-1]
    assert (name, kwargs["reason"], kwargs["event"]) == ("out", "ended", logout)


def test_a_failing_hook_leaves_the_request_and_the_session_alone(
    dsite: DjangoSite, hooked: list[Any]
) -> None:
    FAILING.append(True)
    assert dsite.sign_in().status_code == 303
    dsite.clock.advance(250)
    assert dsite.get("/api/me").status_code == 200
    assert dsite.get("/me").status_code == 200
    assert [name for name, _ in hooked] == ["in", "refreshed"]  # the signals still go


def test_a_hook_that_cannot_be_imported_is_named_with_the_fix(settings: Any) -> None:
    hooks = {"on_login": "nowhere.at_all", "on_signin": f"{__name__}.hear"}
    with override_settings(REDTRUST={**settings.REDTRUST, "HOOKS": hooks}):
        problems = {p.name: p for p in inspect_settings().problems}
        with pytest.raises(ConfigurationError):
            get_runtime()
    assert "cannot be imported" in problems["REDTRUST['HOOKS']['on_login']"].problem
    assert "on_logout" in problems["REDTRUST['HOOKS']['on_signin']"].fix
