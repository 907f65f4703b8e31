"""The Flask extension: app factories, app.config, the decorator, g and current_redtrust, the
error handler and the testing helper. The shared web suite (tests/web) runs the example."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask, g, request
from flask.testing import FlaskClient

from redtrust_flask import Redtrust, current_redtrust, get_redtrust, redtrust_required, state
from redtrust_flask.testing import sign_in
from redtrust_middleware import (
    Client,
    ConfigurationError,
    MemoryStore,
    RedtrustConfig,
    SessionManager,
    StoreError,
    UpstreamError,
    UserClient,
)
from redtrust_middleware.sandbox import Sandbox
from redtrust_middleware.testing import (
    TEST_APP_URL,
    TEST_PARTNER,
    TEST_SECRET,
    TEST_SERVER_URL,
    FakeClock,
    make_config,
    make_sandbox,
)

REQUIRED = {
    "REDTRUST_SERVER_URL": TEST_SERVER_URL,
    "REDTRUST_PARTNER": TEST_PARTNER,
    "REDTRUST_SHARED_SECRET": TEST_SECRET,
    "REDTRUST_PUBLIC_URL": TEST_APP_URL,
}


def views(app: Flask) -> None:
    @app.get("/me")
    @redtrust_required
    def me() -> dict[str, Any]:
        assert g.redtrust is current_redtrust._get_current_object()  # type: ignore[attr-defined]
        client = current_redtrust.client
        assert isinstance(client, UserClient)
        return {"user": current_redtrust.subject, "bound": client.tokens == current_redtrust.tokens}

    @app.get("/api/me")
    @redtrust_required
    async def api_me() -> dict[str, Any]:  # an async view (flask[async]) works the same
        return {"user": current_redtrust.subject}

    @app.get("/public")
    def public() -> str:
        return "signed in" if current_redtrust else "signed out"

    @app.get("/api/upstream")
    def upstream() -> str:
        raise UpstreamError("Redtrust answered 503")

    @app.get("/store")
    def store() -> str:
        raise StoreError("redis is down")


def build(sandbox: Sandbox, clock: FakeClock, **app_config: Any) -> tuple[Flask, FlaskClient]:
    """An app factory's app, signed in through the in-process sandbox."""
    config = make_config()
    client = Client(config, transport=sandbox.transport(), clock=clock)
    manager = SessionManager(config, store=MemoryStore(clock=clock), client=client, clock=clock)
    app = Flask(__name__)
    app.config.update(TESTING=True, SERVER_NAME="app.test", PREFERRED_URL_SCHEME="https")
    app.config.update(app_config)
    Redtrust().init_app(app, config=config, manager=manager)
    views(app)
    return app, app.test_client()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    return make_sandbox(clock=clock)


def test_signed_out_pages_go_to_sign_in_and_api_callers_get_401_json(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    _, client = build(sandbox, clock)
    page = client.get("/me?tab=1")
    assert page.status_code == 302
    assert page.headers["Location"] == "/redtrust/login?next=%2Fme%3Ftab%3D1"
    api = client.get("/api/me")
    assert api.status_code == 401
    assert api.json == {
        "error": "not_authenticated",
        "login_url": "/redtrust/login?next=%2Fapi%2Fme",
    }
    assert client.get("/public").text == "signed out"


def test_a_test_client_signs_in_through_the_sandbox(sandbox: Sandbox, clock: FakeClock) -> None:
    app, client = build(sandbox, clock)
    done = sign_in(client, sandbox, "alice", next_url="/me")
    assert done.headers["Location"] == "/me"
    assert client.get("/me").json == {"user": "alice", "bound": True}
    assert client.get("/api/me").json == {"user": "alice"}
    assert client.get("/public").text == "signed in"
    # The routes are a blueprint: url_for knows them.
    with app.test_request_context():
        from flask import url_for

        assert url_for("redtrust.logout") == "/redtrust/logout"


def test_the_helper_says_how_to_point_the_test_client_at_public_url(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    app, client = build(sandbox, clock)
    app.config.update(SERVER_NAME=None, PREFERRED_URL_SCHEME="http")
    with pytest.raises(
        RuntimeError, match=r"SERVER_NAME='app\.test', PREFERRED_URL_SCHEME='https'"
    ):
        sign_in(client, sandbox)


def test_redtrust_failing_in_a_view_is_the_cores_clear_answer(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    _, client = build(sandbox, clock)
    api = client.get("/api/upstream")
    assert api.status_code == 502
    assert api.json is not None
    assert api.json["error"] == "redtrust_unavailable"
    page = client.get("/store", headers={"Sec-Fetch-Mode": "navigate"})
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "redis is down" not in page.text  # the cause goes to the log, not to the browser


def test_one_extension_serves_several_apps_of_a_factory(sandbox: Sandbox, clock: FakeClock) -> None:
    redtrust = Redtrust()
    apps = []
    for public_url in ("https://one.test", "https://two.test"):
        app = Flask(__name__)
        app.config.update(REQUIRED, REDTRUST_PUBLIC_URL=public_url)
        redtrust.init_app(app)
        apps.append(app)
    assert [state(app).config.public_url for app in apps] == [
        "https://one.test",
        "https://two.test",
    ]
    assert state(apps[0]).manager is not state(apps[1]).manager
    with pytest.raises(RuntimeError, match="already set up"):
        redtrust.init_app(apps[0])
    with pytest.raises(RuntimeError, match=r"call Redtrust\(app\)"):
        state(Flask("bare"))


def test_app_config_takes_python_values_or_environment_text() -> None:
    texts, values = Flask("texts"), Flask("values")
    texts.config.update(
        REQUIRED,
        REDTRUST_TIMEOUT="2.5",
        REDTRUST_ALLOWED_NEXT_ORIGINS="https://a.test,https://b.test",
        REDTRUST_API_PREFIXES="/api/,/rpc/",
    )
    values.config.update(
        REQUIRED,
        REDTRUST_TIMEOUT=2.5,
        REDTRUST_ALLOWED_NEXT_ORIGINS=["https://a.test", "https://b.test"],
        REDTRUST_API_PREFIXES=["/api/", "/rpc/"],
    )
    Redtrust(texts)
    Redtrust(values)
    expected = RedtrustConfig(
        server_url=TEST_SERVER_URL,
        partner=TEST_PARTNER,
        shared_secret=TEST_SECRET,
        public_url=TEST_APP_URL,
        timeout=2.5,
        allowed_next_origins=("https://a.test", "https://b.test"),
    )
    assert state(texts).config == expected == state(values).config
    assert state(texts).gate.api_prefixes == ("/api/", "/rpc/") == state(values).gate.api_prefixes


@pytest.mark.parametrize(
    ("given", "named", "says"),
    [
        ({"REDTRUST_TIMEOUT": "soon"}, "REDTRUST_TIMEOUT", "must be a number"),
        (
            {"REDTRUST_TIMEOUT": [2]},
            "REDTRUST_TIMEOUT",
            "for example app.config['REDTRUST_TIMEOUT'] = ",
        ),
        ({"REDTRUST_TIMOUT": 2}, "REDTRUST_TIMOUT", "did you mean 'REDTRUST_TIMEOUT'?"),
        ({"REDTRUST_PUBLIC_URL": None}, "REDTRUST_PUBLIC_URL", "is required"),
        ({"REDTRUST_PARTNER": ""}, "REDTRUST_PARTNER", "is not set"),
        ({"REDTRUST_API_PREFIXES": 3}, "REDTRUST_API_PREFIXES", "list of path prefixes"),
    ],
)
def test_a_bad_setting_is_refused_at_init_app_naming_the_key_and_the_variable(
    given: dict[str, Any], named: str, says: str
) -> None:
    app = Flask(__name__)
    app.config.update({**REQUIRED, **given})
    if given.get("REDTRUST_PUBLIC_URL", "") is None:
        del app.config["REDTRUST_PUBLIC_URL"]
    secret = TEST_SECRET
    with pytest.raises(ConfigurationError) as refused:
        Redtrust(app)
    message = str(refused.value)
    assert f"app.config[{named!r}] ({named})" in message, message
    assert says in message
    assert secret not in message
    assert "soon" not in message
    assert "redtrust" not in app.extensions  # nothing half set up
    assert app.wsgi_app.__class__.__name__ != "RedtrustWSGIMiddleware"


#: ``printf 'redtrust-flask/v1:flask-secret-new' | openssl sha256`` (and ``-old``).
NEW_KEY = "9de41083389011cfe4ef41eb0e8947750fed65f33ab6080cd4c1422deb189c33"
OLD_KEY = "a97b81d67dd7257ceb700fcbc1a77beb0467da51167b830f869163a8e550852c"


@pytest.mark.parametrize(
    ("given", "keys"),
    [
        # As the Django face does: the app's secret key seals, its fallbacks still open.
        (
            {"SECRET_KEY": "flask-secret-new", "SECRET_KEY_FALLBACKS": ["flask-secret-old"]},
            (NEW_KEY, OLD_KEY),
        ),
        ({"SECRET_KEY": "flask-secret-new"}, (NEW_KEY,)),
        # REDTRUST_ENCRYPTION_KEYS wins over the secret key, as text or as a list.
        ({"SECRET_KEY": "s", "REDTRUST_ENCRYPTION_KEYS": "k" * 32}, ("k" * 32,)),
        ({"SECRET_KEY": "s", "REDTRUST_ENCRYPTION_KEYS": ["k" * 32]}, ("k" * 32,)),
        # Neither: the core's default (a random key per process, sessions end on restart).
        ({}, ()),
    ],
)
def test_encryption_keys_are_derived_from_the_apps_secret_key(
    given: dict[str, Any], keys: tuple[str, ...]
) -> None:
    app = Flask(__name__)
    app.config.update({**REQUIRED, **given})
    Redtrust(app)
    assert state(app).config.encryption_keys == keys


def test_every_mistake_in_app_config_is_named_at_once() -> None:
    app = Flask(__name__)
    app.config.update(
        {**REQUIRED, "REDTRUST_PUBLIC_URL": ""},
        REDTRUST_TIMEOUT="soon",
        REDTRUST_REFRESH_LEEWAY=[1],
        REDTRUST_TIMOUT=2,
        REDTRUST_ENDPOINT_REFRESH="FETCH /x",
        REDTRUST_API_PREFIXES=3,
    )
    with pytest.raises(ConfigurationError) as refused:
        Redtrust(app)
    lines = str(refused.value).splitlines()
    named = [line.strip().removeprefix("also ").split(":")[0] for line in lines]
    assert sorted(named) == sorted(
        f"app.config[{key!r}] ({key})"
        for key in (
            "REDTRUST_PUBLIC_URL",
            "REDTRUST_TIMEOUT",
            "REDTRUST_REFRESH_LEEWAY",
            "REDTRUST_TIMOUT",
            "REDTRUST_ENDPOINT_REFRESH",
            "REDTRUST_API_PREFIXES",
        )
    ), lines
    assert "redtrust" not in app.extensions


def test_the_session_cookie_is_set_by_the_core_and_varies_caches(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    _, client = build(sandbox, clock)
    done = sign_in(client, sandbox)
    cookie = done.headers["Set-Cookie"]
    assert cookie.startswith("__Host-redtrust_session=")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert client.get("/public").headers["Vary"] == "Cookie"


def test_a_hook_registered_before_init_app_sees_the_user(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    config = make_config()
    client = Client(config, transport=sandbox.transport(), clock=clock)
    manager = SessionManager(config, store=MemoryStore(clock=clock), client=client, clock=clock)
    app = Flask(__name__)
    app.config.update(TESTING=True, SERVER_NAME="app.test", PREFERRED_URL_SCHEME="https")
    seen: list[str | None] = []

    @app.before_request
    def audit() -> None:  # the app's own hook, registered before the extension's
        seen.append(current_redtrust.subject if current_redtrust else None)

    Redtrust(app, config=config, manager=manager)
    views(app)
    browser = app.test_client()
    sign_in(browser, sandbox, "alice")
    seen.clear()
    assert browser.get("/me").status_code == 200
    assert seen == ["alice"]


def test_the_context_is_none_outside_a_request() -> None:
    # A CLI command or a background job: None, as Flask-Login's current_user, not a
    # "working outside of application context" RuntimeError.
    assert get_redtrust() is None
    with Flask(__name__).app_context():
        assert get_redtrust() is None


def _signout_token(client: FlaskClient) -> str:
    """The sign-out token of the confirmation form (what a page's sign-out form sends)."""
    page = client.get("/redtrust/logout")
    found = re.search(r'name="?redtrust_signout"? value="([^"]*)"', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def test_sign_out_works_when_a_hook_read_the_form_first(sandbox: Sandbox, clock: FakeClock) -> None:
    # Flask-WTF's CSRFProtect reads request.form in a before_request hook on every POST:
    # Werkzeug has then consumed wsgi.input, and the sign-out form must come from its copy.
    app, client = build(sandbox, clock)
    seen: list[str | None] = []

    @app.before_request
    def csrf_like() -> None:
        if request.method == "POST":
            seen.append(request.form.get("redtrust_signout"))

    sign_in(client, sandbox, "alice")
    token = _signout_token(client)
    out = client.post("/redtrust/logout", data={"redtrust_signout": token})
    assert seen == [token]  # the hook did read the form before the route
    assert out.status_code == 303, out.text
    assert "__Host-redtrust_session=;" in out.headers["Set-Cookie"]
    assert client.get("/public").text == "signed out"


def test_sign_out_works_when_a_hook_read_the_raw_body_first(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    app, client = build(sandbox, clock)

    @app.before_request
    def audit_body() -> None:
        request.get_data()  # cached by Werkzeug; wsgi.input is consumed all the same

    sign_in(client, sandbox, "alice")
    out = client.post("/redtrust/logout", data={"redtrust_signout": _signout_token(client)})
    assert out.status_code == 303, out.text
    assert client.get("/public").text == "signed out"


def test_a_sign_out_form_without_the_token_is_still_refused_after_a_form_hook(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    app, client = build(sandbox, clock)

    @app.before_request
    def csrf_like() -> None:
        _ = request.form

    sign_in(client, sandbox, "alice")
    out = client.post("/redtrust/logout", data={"redtrust_signout": "forged"})
    assert out.status_code == 403
    assert client.get("/public").text == "signed in"


def _sandboxed(sandbox: Sandbox, clock: FakeClock) -> tuple[RedtrustConfig, SessionManager]:
    config = make_config()
    client = Client(config, transport=sandbox.transport(), clock=clock)
    return config, SessionManager(
        config, store=MemoryStore(clock=clock), client=client, clock=clock
    )


def test_an_error_handler_the_app_registered_before_init_app_is_kept(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    config, manager = _sandboxed(sandbox, clock)
    app = Flask(__name__)
    app.config.update(TESTING=True)

    @app.errorhandler(StoreError)
    def store_down(error: StoreError) -> tuple[str, int]:
        return "the app's own store page", 500

    Redtrust(app, config=config, manager=manager)
    views(app)
    client = app.test_client()
    page = client.get("/store")
    assert (page.status_code, page.text) == (500, "the app's own store page")
    # The classes the app left alone still get the core's answer.
    assert client.get("/api/upstream").json["error"] == "redtrust_unavailable"  # type: ignore[index]


def test_an_error_handler_registered_after_init_app_replaces_the_extensions(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    # Flask's own rule: a later handler for the same class replaces the earlier one.
    config, manager = _sandboxed(sandbox, clock)
    app = Flask(__name__)
    app.config.update(TESTING=True)
    Redtrust(app, config=config, manager=manager)

    @app.errorhandler(UpstreamError)
    def upstream_down(error: UpstreamError) -> tuple[str, int]:
        return "the app's own upstream page", 500

    views(app)
    client = app.test_client()
    page = client.get("/api/upstream")
    assert (page.status_code, page.text) == (500, "the app's own upstream page")
    assert client.get("/store").status_code == 503
