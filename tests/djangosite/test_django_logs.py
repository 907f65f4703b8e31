"""The Django face's log records (WSGI and ASGI): the same events and fields as every face,
and no credential in any message, argument or field."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from tests.logscan import check_shapes, of, scan, watch_wire

from redtrust_django import signals
from redtrust_django.conf import get_runtime
from redtrust_middleware.testing import TEST_USERS

from .conftest import ORIGIN, DjangoSite


def _secrets(dsite: DjangoSite) -> list[str]:
    return [get_runtime().config.shared_secret, *TEST_USERS.values(), dsite.session_id() or ""]


def test_sign_in_refresh_and_sign_out_log_their_events_and_no_secret(
    dsite: DjangoSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(dsite.sandbox)
    callback = dsite.start()
    assert dsite.get(callback).status_code == 303
    secrets = _secrets(dsite)
    assert dsite.get(callback).status_code == 400  # a replay
    dsite.clock.advance(250)
    assert dsite.get("/api/me").status_code == 200  # refreshed here
    assert dsite.post("/redtrust/logout", ORIGIN).status_code == 303

    check_shapes(caplog.records)
    assert scan(caplog.records, [*wire, *secrets]) > 0
    (login,) = of(caplog.records, "redtrust.login.completed")
    tag = login["session"]
    assert re.fullmatch(r"[0-9a-f]{16}", tag)
    assert len(of(caplog.records, "redtrust.login.refused")) == 1
    (refreshed,) = of(caplog.records, "redtrust.refresh.completed")
    assert (refreshed["outcome"], refreshed["session"]) == ("refreshed", tag)
    assert of(caplog.records, "redtrust.logout") == [{"reason": "signed_out", "session": tag}]


def test_a_rejected_refresh_and_a_failing_receiver_log_no_secret(
    dsite: DjangoSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire = watch_wire(dsite.sandbox)

    tokens: list[str] = []

    def leaky(**kwargs: Any) -> None:  # a receiver whose error quotes the user's token
        tokens.append(kwargs["context"].tokens.access_token)
        raise RuntimeError(f"could not store {tokens[-1]}")

    def leaky_end(**kwargs: Any) -> None:  # the middleware's signal (the session ended)
        raise RuntimeError(f"could not forget {tokens[-1]}")

    signals.redtrust_logged_in.connect(leaky, weak=False, dispatch_uid="leaky")
    signals.redtrust_logged_out.connect(leaky_end, weak=False, dispatch_uid="leaky")
    try:
        assert dsite.sign_in().status_code == 303
        secrets = _secrets(dsite)
        dsite.sandbox.revoke("alice")
        dsite.clock.advance(310)
        assert dsite.get("/api/me").status_code == 401
    finally:
        signals.redtrust_logged_in.disconnect(dispatch_uid="leaky")
        signals.redtrust_logged_out.disconnect(dispatch_uid="leaky")

    check_shapes(caplog.records)
    scan(caplog.records, [*wire, *secrets])
    # Nor Django's own line for a failing receiver (django.dispatch: message, traceback).
    assert not [r for r in caplog.records if r.name == "django.dispatch"]
    assert tokens[-1] not in caplog.text
    assert of(caplog.records, "redtrust.hook.failed") == [
        {"hook": "redtrust_logged_in", "error_type": "RuntimeError"},
        {"hook": "redtrust_logged_out", "error_type": "RuntimeError"},
    ]
    (failed,) = of(caplog.records, "redtrust.refresh.failed")
    assert (failed["outcome"], failed["error_type"]) == ("rejected", "APIError")
    assert failed["code"]
    (ended,) = of(caplog.records, "redtrust.logout")
    assert (ended["reason"], ended["session"]) == ("refresh_rejected", failed["session"])
