"""The library's pages: the language a browser gets, templates a site overrides, escaping.

Expected Spanish comes from the shipped ``.po`` file (read with the standard library's
gettext after GNU ``msgfmt`` compiled it, see ``test_pages_catalogues.py``), and pages are
read with ``html.parser``, as a browser would see them, never by matching markup.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.catalogues import CORE_PO, po_translations

from redtrust_middleware import _pages
from redtrust_middleware._hosts import HostCheck
from redtrust_middleware.exceptions import ConfigurationError, LoginExpiredError, StoreError
from redtrust_middleware.pages import DOMAIN, N_, PAGE_VALUES, Page, Pages, choose_language
from redtrust_middleware.testing import require_system

ES = po_translations(CORE_PO)
SOURCES = Path(_pages.__file__).parent


class Seen(HTMLParser):
    """What a browser would show and do: texts by element, attributes, elements."""

    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(body)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("meta", "input", "br"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.texts.setdefault(self._open[-1], []).append(data.strip())

    def attribute(self, tag: str, name: str) -> str | None:
        (found,) = [a.get(name) for t, a in self.elements if t == tag and name in a]
        return found

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def render(response: _pages.WebResponse) -> Seen:
    assert dict(response.headers)["content-type"] == "text/html; charset=utf-8"
    return Seen(response.body.decode())


def spanish(headers: dict[str, str] | None = None) -> _pages.Render:
    pages = Pages()
    return lambda page: pages.render(page, headers or {"accept-language": "es"})


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("es", "es"),
        ("es-ES", "es"),  # RFC 4647 §3.4 lookup: es-ES falls back to es
        ("es-419", "es"),
        ("ES-es", "es"),  # case-insensitive
        ("en-US,es;q=0.9", "en"),
        ("fr, es;q=0.5, en;q=0.4", "es"),  # French unavailable, Spanish preferred to English
        ("en;q=0.4, es;q=0.8", "es"),  # by q-value, not by order
        ("es;q=0.5, en;q=0.5", "es"),  # a tie: the header's order
        ("es;q=0, en", "en"),  # q=0: not acceptable (RFC 9110 §12.5.4)
        ("es;q=0", "en"),
        ("*", "en"),
        ("", "en"),
        ("da, en-gb;q=0.8, en;q=0.7", "en"),  # RFC 9110's own example
        ("es;q=2", "en"),  # a malformed q-value: the range is skipped
        ("es;q=0.0001", "en"),  # more than three decimals: malformed
        ("<script>, es", "es"),  # a malformed range is skipped, not fatal
        ("x" * 20 + ", es", "es"),
    ],
)
def test_accept_language_picks_the_language(header: str, chosen: str) -> None:
    assert choose_language(header, ("en", "es"), "en") == chosen


def test_a_range_of_many_subtags_costs_one_pass() -> None:
    # A 64 KiB header (servers such as waitress accept more) of one range with 32,000
    # subtags: RFC 4647's lookup still finds es, without a join per subtag (seconds before).
    header = "es" + "-a" * 32_000
    started = time.perf_counter()
    assert choose_language(header, ("en", "es", "pt-BR"), "en") == "es"
    assert choose_language("pt-br" + "-x" * 32_000, ("en", "es", "pt-BR"), "en") == "pt-BR"
    assert time.perf_counter() - started < 0.5


def test_without_a_header_the_pages_are_english_with_lang_en() -> None:
    response = _pages.signout_refused("/redtrust/logout", render=lambda p: Pages().render(p, {}))
    seen = render(response)
    assert seen.attribute("html", "lang") == "en"
    assert seen.texts["h1"] == ["Sign-out refused"]
    assert dict(response.headers)["content-language"] == "en"
    assert dict(response.headers)["vary"] == "Accept-Language"


def test_every_page_speaks_spanish_for_accept_language_es() -> None:
    store_down = _pages.unavailable(_store_error(), as_json=False, render=spanish())
    pages = {
        "Sign out?": _pages.signout_confirmation(
            "/redtrust/logout", "redtrust_signout", "t" * 43, render=spanish()
        ),
        "Sign-out refused": _pages.signout_refused("/redtrust/logout", render=spanish()),
        "Method not allowed": _pages.not_allowed(spanish(), "GET", "login"),
        "Sessions are unavailable": store_down,
        "Sign-in not completed": _pages.sign_in_not_completed(
            _store_error(), as_json=False, login_url="/redtrust/login", render=spanish()
        ),
        "Sign-in could not be completed": _pages.callback_refused(
            LoginExpiredError("this sign-in expired or was already used", code="LOGIN_EXPIRED"),
            as_json=False,
            login_url="/redtrust/login",
            render=spanish({"accept-language": "es-ES,es;q=0.9,en;q=0.8"}),
        ),
    }
    for english, response in pages.items():
        seen = render(response)
        assert seen.attribute("html", "lang") == "es"
        assert seen.texts["h1"] == [ES[english]], english
        assert seen.texts["title"] == [ES[english]]
        headers = dict(response.headers)
        assert headers["content-language"] == "es"
        assert headers["vary"] == "Accept-Language"
        # The security headers stay as they were.
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert render(pages["Sign out?"]).texts["button"] == [ES["Sign out"]]
    confirm = render(pages["Sign out?"]).texts["p"]
    assert confirm == [ES["Confirm to end your session."]]
    refused = render(pages["Sign-in could not be completed"])
    reason = ES["this sign-in expired or was already used"]
    assert refused.texts["p"][0] == ES["%(reason)s. Please sign in again."] % {
        "reason": reason[:1].upper() + reason[1:]
    }
    assert refused.texts["a"] == [ES["Sign in again"]]


def test_the_diagnosis_keeps_setting_names_and_addresses_verbatim_in_spanish() -> None:
    hosts = HostCheck("https://app.test", pending_login_ttl=600, clock=lambda: 0.0)
    hint, logged = hosts.refused_hints({"host": "www.app.test"}, "https", "NO_PENDING_LOGIN")
    assert hint is not None
    error = LoginExpiredError("no sign-in was started in this browser, or it expired", code="x")
    response = _pages.callback_refused(
        error, as_json=False, login_url="/redtrust/login", render=spanish(), hint=hint
    )
    (text,) = render(response).texts["p"]
    told = ES[hint.msgid] % {"opened": "https://www.app.test", "public": "https://app.test"}
    assert told in text
    for verbatim in ("REDTRUST_PUBLIC_URL", "https://www.app.test", "https://app.test"):
        assert verbatim in text
    assert logged.startswith("This browser opened the app at https://www.app.test")  # English


def test_json_answers_stay_english_and_unvaried() -> None:
    hosts = HostCheck("https://app.test", pending_login_ttl=600, clock=lambda: 0.0)
    hint, _ = hosts.refused_hints({"host": "www.app.test"}, "https", "NO_PENDING_LOGIN")
    error = LoginExpiredError("no sign-in was started in this browser, or it expired", code="X")
    answer = _pages.callback_refused(
        error, as_json=True, login_url="/l", render=spanish(), hint=hint
    )
    assert answer.body.decode().startswith('{"error": "x", "login_url": "/l", "hint": "This ')
    assert "vary" not in dict(answer.headers)


def _callback_reasons() -> set[str]:
    """Every reason a refused callback can give, read from the library's source: the
    strings given to InvalidCallbackError and LoginExpiredError (``'{name}'`` is tkn or
    state, the only parameters a callback reads)."""
    reasons: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("InvalidCallbackError", "LoginExpiredError")
            ):
                continue
            (first, *_) = node.args
            if isinstance(first, ast.Constant):
                reasons.add(str(first.value))
                continue
            assert isinstance(first, ast.JoinedStr), ast.dump(first)
            for name in ("tkn", "state"):
                reasons.add(
                    "".join(
                        str(part.value) if isinstance(part, ast.Constant) else name
                        for part in first.values
                    )
                )
    return reasons


def test_every_reason_a_callback_is_refused_for_is_translated() -> None:
    reasons = _callback_reasons()
    assert len(reasons) >= 15, reasons
    listed = {text.msgid for text in _pages.REASONS}
    assert reasons <= listed, reasons - listed
    untranslated = sorted(r for r in reasons if not ES.get(r))
    assert not untranslated


# -- a site's own templates -------------------------------------------------------------------


HOSTILE = '"><script>alert(1)</script>'


def test_an_override_is_used_and_every_value_in_it_stays_escaped(tmp_path: Path) -> None:
    (tmp_path / "callback_refused.html").write_text(
        "<main class=site><h1>$title</h1><p id=why>$reason</p><p id=hint>$hint</p>"
        '<a href="$login_url" title="$link_text">$link_text</a></main>'
    )
    (tmp_path / "layout.html").write_text(
        '<!doctype html><html lang="$lang"><title>Acme: $title</title>$content</html>'
    )
    pages = Pages(templates=tmp_path)
    hint = N_("opened at %(opened)s", opened=HOSTILE)
    response = _pages.callback_refused(
        LoginExpiredError("this sign-in expired or was already used", code="LOGIN_EXPIRED"),
        as_json=False,
        login_url=f"/redtrust/login?next={HOSTILE}",
        render=lambda page: pages.render(page, {"accept-language": "es"}),
        hint=hint,
    )
    seen = render(response)
    assert "main" in seen.tags()
    assert "script" not in seen.tags()  # the values never became markup
    assert seen.attribute("a", "href") == f"/redtrust/login?next={HOSTILE}"
    assert seen.attribute("a", "title") == ES["Sign in again"]
    assert seen.texts["title"] == [f"Acme: {ES['Sign-in could not be completed']}"]
    assert seen.texts["p"][1] == f"opened at {HOSTILE}"
    assert seen.attribute("html", "lang") == "es"


def test_the_hidden_signout_field_is_the_one_markup_a_template_gets(tmp_path: Path) -> None:
    (tmp_path / "signout_confirmation.html").write_text(
        '<form method=post action="$logout_path">$signout_input<button>$button</button></form>'
    )
    pages = Pages(templates=tmp_path)
    response = _pages.signout_confirmation(
        f"/mount{HOSTILE}/redtrust/logout",
        "redtrust_signout",
        "t" * 43,
        render=lambda page: pages.render(page, {}),
    )
    seen = render(response)
    assert "script" not in seen.tags()
    assert seen.attribute("form", "action") == f"/mount{HOSTILE}/redtrust/logout"
    assert seen.attribute("input", "name") == "redtrust_signout"
    assert seen.attribute("input", "value") == "t" * 43


@pytest.mark.parametrize(
    ("name", "text", "told"),
    [
        ("callback_refused.html", "<p>$next</p>", "uses $next, which callback_refused does not"),
        ("unavailable.html", "<p>costs 5$</p>", "write '$$' for a dollar sign"),
        ("callback_refuse.html", "<p>$title</p>", "did you mean callback_refused.html?"),
        # Unquoted, a value with a space would start a new attribute (an onclick, say).
        ("signout_refused.html", "<a href=$logout_path>x</a>", 'quotes: ="$logout_path"'),
        ("signout_refused.html", "<a href = ${logout_path}>x</a>", 'quotes: ="$logout_path"'),
    ],
)
def test_a_broken_override_is_refused_at_start_up_naming_the_fix(
    tmp_path: Path, name: str, text: str, told: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        Pages(templates=tmp_path)
    assert name in str(raised.value)
    assert told in str(raised.value)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a directory"):
        Pages(templates=tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="LC_MESSAGES"):
        Pages(locales=tmp_path / "nowhere")


def test_the_built_in_templates_use_only_their_pages_values() -> None:
    Pages()  # checks each built-in template as it would an override
    assert set(PAGE_VALUES) == {"layout", *Pages().__dict__["_templates"]}


# -- a site's own language --------------------------------------------------------------------


def test_a_site_adds_a_language_with_a_compiled_catalogue(tmp_path: Path) -> None:
    require_system(shutil.which("msgfmt") is not None, "GNU msgfmt (Debian package gettext)")
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / f"{DOMAIN}.po").write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Sign out?"\nmsgstr "Se déconnecter ?"\n',
        encoding="utf-8",
    )
    subprocess.run(
        ["msgfmt", "-o", str(folder / f"{DOMAIN}.mo"), str(folder / f"{DOMAIN}.po")],
        check=True,
    )
    pages = Pages(locales=tmp_path)
    assert pages.languages == ("en", "es", "fr")
    page = Page(name="unavailable", title=N_("Sign out?"), message=N_("Sign out"))
    seen = Seen(pages.render(page, {"accept-language": "fr-CA, es;q=0.5"}).body)
    assert seen.attribute("html", "lang") == "fr"
    assert seen.texts["h1"] == ["Se déconnecter ?"]
    assert seen.texts["p"] == ["Sign out"]  # not in the site's catalogue: English


def _store_error() -> StoreError:
    return StoreError("down")
