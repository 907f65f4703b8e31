"""The fault knobs from outside the process: command-line flags, ``POST /_sandbox/faults``,
``redtrust sandbox-fault``, and what each knob really does over a socket."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from redtrust_middleware.sandbox import Fault, FaultChange, Sandbox, SandboxConfig, running
from redtrust_middleware.sandbox import cli as sandbox_cli

from ._support import (
    EXCHANGE_PATH,
    JSON,
    PARTNER,
    RA_REFRESH_PATH,
    SECRET,
    envelope_of,
    token_data,
)
from .test_sandbox_config_cli import served as served  # the fixture: main() without a server
from .test_sandbox_socket import Channel, headers_now, http_scope
from .test_sandbox_socket import base_url as base_url  # the fixtures: a sandbox on a socket
from .test_sandbox_socket import live as live

ENDPOINT_NAMES = frozenset(
    {
        "loginrequest",
        "login_form",
        "exchange",
        "refresh",
        "login",
        "logout",
        "csr_create",
        "csr_finalize",
    }
)


def fault(kind: str, **fields: Any) -> Fault:
    """The expected value, built field by field (not through the parsers under test)."""
    return Fault(kind=kind, **fields)  # type: ignore[arg-type]


# -- parsing the flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "latency", "faults"),
    [
        ([], None, []),
        (["--latency", "2.5"], 2.5, []),
        (["--latency=0"], 0.0, []),
        (
            ["--fail-next", "refresh:503:3"],
            None,
            [fault("fail", endpoint="refresh", status=503, count=3)],
        ),
        (["--fail-next", "any:500"], None, [fault("fail", status=500, count=1)]),
        (["--drop-next", "refresh:2"], None, [fault("drop", endpoint="refresh", count=2)]),
        (["--drop-next", "exchange"], None, [fault("drop", endpoint="exchange", count=1)]),
        (
            ["--misbehave-next", "refresh:not-json:4"],
            None,
            [fault("hostile", endpoint="refresh", variant="not-json", count=4)],
        ),
        (
            ["--drop-next=refresh", "--fail-next=exchange:429", "--fail-next=any:502:2"],
            None,
            [
                fault("fail", endpoint="exchange", status=429, count=1),
                fault("fail", status=502, count=2),
                fault("drop", endpoint="refresh", count=1),
            ],
        ),
    ],
)
def test_fault_flags_are_planned_at_start_up(
    served: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    latency: float | None,
    faults: list[Fault],
) -> None:
    assert sandbox_cli.main(argv) == 0
    sandbox: Sandbox = served[0]["sandbox"]
    assert sandbox.latency == (latency or 0.0)
    assert list(sandbox.planned_faults()) == faults
    out = capsys.readouterr().out
    assert "POST /_sandbox/faults" in out
    assert ("faults:" in out) == bool(latency or faults)


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["--latency", "soon"], "--latency 2.5"),
        (["--latency", "-1"], "seconds >= 0"),
        (["--latency", "nan"], "seconds >= 0"),
        (["--fail-next", "refresh"], "ENDPOINT:STATUS[:COUNT], e.g. refresh:503:3"),
        (["--fail-next", "refresh:abc"], "STATUS must be an HTTP error status (400-599)"),
        (["--fail-next", "refresh:200"], "STATUS must be an HTTP error status (400-599)"),
        (["--fail-next", "refresh:503:0"], "COUNT must be a whole number >= 1"),
        (["--fail-next", "refresh:503:x"], "COUNT must be a whole number >= 1"),
        (["--fail-next", "refresh:503:1:2"], "ENDPOINT:STATUS[:COUNT]"),
        (["--fail-next", "stats:503"], "or any"),
        (["--drop-next", "Refresh"], "ENDPOINT must be one of"),
        (["--drop-next", "refresh:"], "ENDPOINT[:COUNT], e.g. refresh:2"),
        (["--drop-next", "refresh:-1"], "COUNT must be a whole number >= 1"),
        (["--misbehave-next", "refresh"], "ENDPOINT:KIND[:COUNT]"),
        (["--misbehave-next", "refresh:rude"], "KIND must be one of bad-expiration"),
    ],
)
def test_bad_fault_flags_are_refused_with_the_fix(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], argv: list[str], fix: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        sandbox_cli.main(argv)
    assert caught.value.code == 2
    assert not served
    err = capsys.readouterr().err
    assert f"argument {argv[0].partition('=')[0]}" in err
    assert fix in err


def test_the_fault_flags_list_every_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sandbox_cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ENDPOINT_NAMES:
        assert name in text
    assert "after the call was handled" in text  # what --latency delays, said plainly


def test_refreshed_access_ttl_flag(served: list[dict[str, Any]]) -> None:
    assert sandbox_cli.main(["--access-ttl=30", "--refreshed-access-ttl=3600"]) == 0
    config: SandboxConfig = served[0]["sandbox"].config
    assert (config.access_token_ttl, config.refreshed_access_token_ttl) == (30, 3600)


# -- the change as JSON ------------------------------------------------------------------------


def test_a_change_round_trips_through_its_json() -> None:
    change = FaultChange(
        clear=True,
        latency=1.5,
        faults=(
            fault("fail", endpoint="refresh", status=502, count=2),
            fault("hostile", variant="huge"),
            fault("drop", endpoint="exchange", count=3),
        ),
    )
    body = change.to_json()
    assert body == {
        "clear": True,
        "latency": 1.5,
        "fail_next": [{"endpoint": "refresh", "count": 2, "status": 502}],
        "misbehave_next": [{"endpoint": None, "count": 1, "kind": "huge"}],
        "drop_next": [{"endpoint": "exchange", "count": 3}],
    }
    assert FaultChange.from_json(json.loads(json.dumps(body)), ENDPOINT_NAMES) == change


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"latency": "1"}, "latency must be a number"),
        ({"latency": -2}, "latency must be a finite number of seconds >= 0"),
        ({"latency": True}, "latency must be a number"),
        ({"clear": "yes"}, "clear must be true or false"),
        ({"fail": []}, "unknown key; the keys are clear, latency, fail_next"),
        ({"fail_next": {"status": 503}}, "fail_next must be a list of objects"),
        ({"fail_next": [503]}, "fail_next[0] must be an object"),
        ({"fail_next": [{"status": 200}]}, "fail_next[0]: status must be an HTTP error status"),
        ({"fail_next": [{"status": "503"}]}, "fail_next[0]: status must be an HTTP error status"),
        ({"drop_next": [{}, {"count": 0}]}, "drop_next[1]: count must be an int >= 1"),
        ({"drop_next": [{"endpoint": "stats"}]}, "drop_next[0]: endpoint must be one of"),
        ({"drop_next": [{"status": 503}]}, "drop_next[0] has an unknown key; allowed: count"),
        ({"misbehave_next": [{"kind": "rude"}]}, "misbehave_next[0]: kind must be one of"),
    ],
)
def test_a_bad_change_names_the_key_at_fault(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        FaultChange.from_json(body, ENDPOINT_NAMES)


# -- over a socket -----------------------------------------------------------------------------


def signed_in(live: Sandbox, client: httpx2.Client) -> str:
    """A fresh session for alice (over the socket); its refresh token."""
    token = live.issue_temp_token("alice")
    body = {"temporalToken": token}
    return token_data(client.post(EXCHANGE_PATH, json=body, headers=headers_now()))["refreshToken"]


def refresh(client: httpx2.Client, refresh_token: str, **options: Any) -> httpx2.Response:
    body = {"refreshToken": refresh_token}
    return client.put(RA_REFRESH_PATH, json=body, headers=headers_now(), **options)


def control(client: httpx2.Client, body: dict[str, Any]) -> dict[str, Any]:
    return envelope_of(client.post("/_sandbox/faults", json=body), 200, "OK")


@pytest.mark.network
def test_latency_holds_the_answer_after_the_call_was_handled(live: Sandbox, base_url: str) -> None:
    with httpx2.Client(base_url=base_url) as client:
        old = signed_in(live, client)
        plan = control(client, {"latency": 2.0})
        assert plan["latency"] == 2.0
        with pytest.raises(httpx2.ReadTimeout):  # the client gives up before the answer...
            refresh(client, old, timeout=0.3)
        # ... yet the refresh happened: the token rotated, a second presentation is a reuse.
        assert [s.refreshes for s in live.sessions_for("alice")] == [1]
        control(client, {"latency": 0})
        envelope_of(refresh(client, old), 401, "INVALID_REFRESH_TOKEN")
        assert live.calls["refresh_reuse"] == 1


@pytest.mark.network
def test_a_client_that_waits_gets_the_late_answer(live: Sandbox, base_url: str) -> None:
    with httpx2.Client(base_url=base_url) as client:
        old = signed_in(live, client)
        live.latency = 0.3
        started = time.monotonic()
        token_data(refresh(client, old))
        assert time.monotonic() - started >= 0.3


@pytest.mark.network
def test_control_routes_are_never_held_back(live: Sandbox, base_url: str) -> None:
    live.latency = 30.0  # a control call held this long would time out below
    with httpx2.Client(base_url=base_url, timeout=5.0) as client:
        assert control(client, {})["latency"] == 30.0
        envelope_of(client.get("/_sandbox/stats"), 200, "OK")
        control(client, {"latency": 0})


@pytest.mark.network
def test_fail_next_per_endpoint_over_a_socket(live: Sandbox, base_url: str) -> None:
    with httpx2.Client(base_url=base_url) as client:
        old = signed_in(live, client)
        plan = control(client, {"fail_next": [{"endpoint": "refresh", "status": 502, "count": 2}]})
        assert plan["fail_next"] == [{"endpoint": "refresh", "count": 2, "status": 502}]
        signed_in(live, client)  # another endpoint: not failed
        for _ in range(2):
            envelope_of(refresh(client, old), 502, "SANDBOX_FAULT")
        token_data(refresh(client, old))  # the faults changed nothing: the token still works
        assert control(client, {})["fail_next"] == []
        assert live.calls["refresh"] == 3


def raw_exchange(base_url: str, token: str) -> bytes:
    """Send one exchange over a plain socket; every byte that comes back before EOF."""
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    body = json.dumps({"temporalToken": token}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers_now().items())
    request = (
        f"POST {EXCHANGE_PATH} HTTP/1.1\r\nHost: {host}\r\n{head}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b'"data"' in received:
                break
    return received


@pytest.mark.network
def test_a_drop_closes_the_connection_without_a_byte(
    live: Sandbox, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = live.issue_temp_token("alice")
    with httpx2.Client(base_url=base_url) as client:
        control(client, {"drop_next": [{"endpoint": "exchange"}]})
    assert raw_exchange(base_url, token) == b""  # not even a status line
    assert len(live.sessions_for("alice")) == 1  # but the exchange happened
    assert raw_exchange(base_url, live.issue_temp_token("alice")).startswith(b"HTTP/1.1 200 ")
    assert "(dropped)" in caplog.text
    # uvicorn saw a client that went away, not an app that failed: no 500 of its own.
    assert not [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= 40]


@pytest.mark.network
def test_a_dropped_refresh_answer_has_rotated_the_token(live: Sandbox, base_url: str) -> None:
    with httpx2.Client(base_url=base_url) as client:
        old = signed_in(live, client)
        control(client, {"drop_next": [{"endpoint": "refresh", "count": 2}]})
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            refresh(client, old)
        assert [s.refreshes for s in live.sessions_for("alice")] == [1]
        with pytest.raises(httpx2.RemoteProtocolError):
            refresh(client, old)  # the second drop: a reuse, also lost
        assert live.calls["refresh_reuse"] == 1
        token_data(refresh(client, live.sessions_for("alice")[0].refresh_token))


@pytest.mark.anyio
async def test_a_server_without_a_transport_drops_after_the_headers(live: Sandbox) -> None:
    live.drop_next(endpoint="exchange")
    body = json.dumps({"temporalToken": "x"}).encode()
    channel = Channel({"type": "http.request", "body": body, "more_body": False})
    scope = http_scope(EXCHANGE_PATH, [(b"content-type", b"application/json")])
    await live.asgi_app(scope, channel.receive, channel.send)
    assert [m["type"] for m in channel.sent] == ["http.response.start"]


# -- who may use the control endpoint -----------------------------------------------------------


async def call_app(live: Sandbox, method: str, body: bytes, **scope: Any) -> dict[str, Any]:
    channel = Channel({"type": "http.request", "body": body, "more_body": False})
    headers = [(b"content-type", b"application/json"), *scope.pop("headers", [])]
    asgi_scope = {**http_scope("/_sandbox/faults", headers), "method": method, **scope}
    await live.asgi_app(asgi_scope, channel.receive, channel.send)
    start, content = channel.sent
    answer: dict[str, Any] = json.loads(content["body"])
    answer["status"] = start["status"]
    return answer


@pytest.mark.anyio
@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_loopback_peers_may_change_faults(live: Sandbox, peer: str) -> None:
    answer = await call_app(live, "POST", b'{"latency": 1}', client=(peer, 5000))
    assert (answer["status"], answer["errorCode"]) == (200, "OK")
    assert live.latency == 1.0


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("peer", ["192.0.2.7", "10.0.0.1", "::ffff:192.0.2.7", "2001:db8::1"])
async def test_other_hosts_may_not_touch_faults(live: Sandbox, method: str, peer: str) -> None:
    answer = await call_app(live, method, b'{"latency": 1}', client=(peer, 5000))
    assert (answer["status"], answer["errorCode"]) == (403, "CONTROL_FORBIDDEN")
    assert "loopback" in answer["message"]
    assert live.latency == 0.0


@pytest.mark.anyio
async def test_browsers_may_not_change_faults(live: Sandbox) -> None:
    # A page on any site can make a browser POST to 127.0.0.1; browsers always say Origin.
    origin = [(b"origin", b"https://evil.example")]
    answer = await call_app(
        live, "POST", b'{"latency": 1}', client=("127.0.0.1", 5000), headers=origin
    )
    assert (answer["status"], answer["errorCode"]) == (403, "CONTROL_FORBIDDEN")
    assert live.latency == 0.0


def test_bad_json_is_a_400_and_changes_nothing(live: Sandbox) -> None:
    live.fail_next(1, endpoint="refresh")
    before = live.planned_faults()
    with httpx2.Client(transport=live.transport(), base_url="https://rt.example") as client:
        bad = {"latency": 1, "drop_next": [{"count": 0}]}
        answer = client.post("/_sandbox/faults", json=bad)
        envelope_of(answer, 400, "INVALID_REQUEST")
        assert "drop_next[0]: count" in answer.json()["message"]
        text = client.post("/_sandbox/faults", content=b'{"latency": 1}')  # no JSON type
        envelope_of(text, 400, "INVALID_REQUEST")
        envelope_of(
            client.put("/_sandbox/faults", json={}, headers=JSON), 405, "METHOD_NOT_ALLOWED"
        )
    assert live.planned_faults() == before
    assert live.latency == 0.0
    assert not live.calls  # control calls are never counted


def test_clear_forgets_faults_then_plans_the_new_ones(live: Sandbox) -> None:
    live.fail_next(3)
    live.latency = 0.5
    live.change_faults(FaultChange(clear=True, faults=(fault("drop", count=2),)))
    assert live.planned_faults() == (fault("drop", count=2),)
    assert live.latency == 0.5  # clear is about planned faults, not the latency


# -- redtrust sandbox-fault -----------------------------------------------------------------------


@pytest.mark.network
def test_the_sandbox_fault_command(
    live: Sandbox, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sandbox_cli.fault_main(["--url", base_url]) == 0
    assert capsys.readouterr().out.splitlines() == ["latency: none", "no faults planned"]
    argv = ["--url", base_url + "/", "--latency", "0.25", "--fail-next", "refresh:503:3"]
    assert sandbox_cli.fault_main([*argv, "--drop-next", "any:2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "latency: 0.25 s",
        "fail refresh 503 (3 left)",
        "drop any endpoint (2 left)",
    ]
    assert live.latency == 0.25
    assert live.planned_faults() == (
        fault("fail", endpoint="refresh", status=503, count=3),
        fault("drop", count=2),
    )
    argv = ["--url", base_url, "--clear", "--misbehave-next", "exchange:html", "--latency=0"]
    assert sandbox_cli.fault_main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "latency: none",
        "hostile exchange html (1 left)",
    ]


@pytest.mark.network
def test_the_sandbox_fault_command_without_a_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert sandbox_cli.fault_main(["--url", url]) == 1
    assert "is the sandbox running?" in capsys.readouterr().err


def test_the_sandbox_fault_command_reports_a_refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = Sandbox(
        SandboxConfig(partners={PARTNER: SECRET}, users={}, redirect_prefixes=("https://a.b/",))
    )

    def refusing(url: str, change: FaultChange | None) -> tuple[int, dict[str, Any]]:
        request = httpx2.Request("GET", url + "/_sandbox/faults", headers={"origin": "x"})
        answer = sandbox.handle(request)
        return answer.status_code, answer.json()

    monkeypatch.setattr(sandbox_cli, "_control", refusing)
    assert sandbox_cli.fault_main(["--url", "http://127.0.0.1:1"]) == 1
    assert "403 CONTROL_FORBIDDEN" in capsys.readouterr().err


def test_the_redtrust_command_knows_sandbox_fault(capsys: pytest.CaptureFixture[str]) -> None:
    from redtrust_middleware.cli import main

    assert main(["--help"]) == 0
    assert "sandbox-fault" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sandbox-fault", "--help"])
    assert "--fail-next ENDPOINT:STATUS[:COUNT]" in capsys.readouterr().out


@pytest.mark.network
def test_answers_over_a_socket_are_dated_by_the_sandbox_clock() -> None:
    moment = 1_900_000_000
    config = SandboxConfig(
        partners={PARTNER: SECRET}, users={}, redirect_prefixes=("http://127.0.0.1:8000/",)
    )
    sandbox = Sandbox(config, clock=lambda: moment + 0.75)  # a fake clock, far from ours
    with running(sandbox) as url, httpx2.Client(base_url=url) as client:
        answer = client.get("/_sandbox/stats")
    expected = datetime.fromtimestamp(moment, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert answer.headers.get_list("date") == [expected]  # one Date, the sandbox's
