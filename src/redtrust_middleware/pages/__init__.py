"""The library's own pages, from templates a site can override, in the browser's language.

The web gate decides which page a request gets (and its status and headers); a
:class:`PageRenderer` turns that :class:`Page` into HTML. :class:`Pages`, the default, fills
small ``string.Template`` files (``$name`` placeholders), every value escaped, and speaks
the language the browser asks for in ``Accept-Language`` among those it has catalogues for
(English, and Spanish shipped). A site passes ``Pages(templates=..., locales=...)`` to the
middleware to use its own templates or add a language; Django renders the same pages from
its templates instead (``redtrust/<page>.html``).
"""

from __future__ import annotations

import difflib
import gettext
import html
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, get_args

from ..exceptions import ConfigurationError
from ._text import N_, Markup, Text

__all__ = [
    "DOMAIN",
    "N_",
    "PAGE_NAMES",
    "PAGE_VALUES",
    "Markup",
    "Page",
    "PageName",
    "PageRenderer",
    "Pages",
    "RenderedPage",
    "Text",
    "choose_language",
]

#: The gettext domain of the library's catalogues (``<lang>/LC_MESSAGES/<DOMAIN>.mo``).
DOMAIN = "redtrust_middleware"
#: The pages the library renders; each is ``<name>.html`` in a templates directory.
PageName: TypeAlias = Literal[
    "callback_refused",
    "not_allowed",
    "sign_in_not_completed",
    "signout_confirmation",
    "signout_refused",
    "unavailable",
]
PAGE_NAMES: tuple[PageName, ...] = get_args(PageName)
_COMMON = ("lang", "title", "message")
#: The placeholders each template may use (``layout`` frames every page's ``content``).
PAGE_VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "layout": ("lang", "title", "content"),
        "callback_refused": (*_COMMON, "reason", "hint", "login_url", "link_text"),
        "not_allowed": (*_COMMON, "allow"),
        "sign_in_not_completed": (*_COMMON, "login_url", "link_text"),
        "signout_confirmation": (*_COMMON, "logout_path", "signout_input", "button"),
        "signout_refused": (*_COMMON, "logout_path", "link_text"),
        "unavailable": (*_COMMON,),
    }
)
_BUILT_IN = files(__name__)
_MAX_RANGES = 32
_RANGE = re.compile(r"\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
#: A placeholder as an unquoted attribute value (``href=$x``), where escaping is not enough.
_UNQUOTED = re.compile(r"=\s*\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page to render: which template, its title and message, and its other values
    (plain text, a :class:`Text` to translate, or :class:`Markup` the library built)."""

    name: PageName
    title: Text
    message: Text
    values: Mapping[str, str | Text] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedPage:
    """A page's HTML, the language it is in (for ``Content-Language`` and ``<html lang>``)
    and the request headers that chose it (for ``Vary``)."""

    body: str
    language: str
    vary: tuple[str, ...] = ()


class PageRenderer(Protocol):
    """What turns a :class:`Page` into HTML; ``headers`` are the request's (lower-case)."""

    def render(self, page: Page, headers: Mapping[str, str]) -> RenderedPage:
        """The page for this request."""
        ...


def choose_language(header: str | None, available: Sequence[str], default: str) -> str:
    """The language of ``available`` the ``Accept-Language`` ``header`` prefers, else
    ``default``.

    Ranges are taken by q-value, highest first, ties in the header's order, ``q=0`` never
    (RFC 9110 §12.5.4); each is looked up by truncation (RFC 4647 §3.4: ``es-ES`` and
    ``es-419`` find ``es``), ``*`` gives ``default``. Malformed ranges are skipped.
    """
    by_tag = {tag.lower().replace("_", "-"): tag for tag in available}
    # Only prefixes as deep as the deepest available tag can match: cut each range there
    # first, so a range of thousands of subtags costs one pass, not one join per subtag.
    depth = max((tag.count("-") + 1 for tag in by_tag), default=0)
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:_MAX_RANGES]):
        name, _, parameters = part.partition(";")
        name = name.strip().lower()
        weight = 1.0
        for parameter in parameters.split(";") if parameters else ():
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.fullmatch(value) else -1.0
        if weight > 0 and _RANGE.fullmatch(name):
            ranges.append((-weight, position, name))
    for _, _, name in sorted(ranges):
        if name == "*":
            return default
        subtags = name.split("-", depth)[:depth]
        while subtags:
            found = by_tag.get("-".join(subtags))
            if found is not None:
                return found
            subtags.pop()
    return default


def _tag(directory_name: str) -> str:
    """The BCP 47 tag of a catalogue directory (``pt_BR`` -> ``pt-BR``)."""
    return directory_name.replace("_", "-")


def _catalogues(root: Traversable | Path) -> dict[str, gettext.GNUTranslations]:
    """The ``<lang>/LC_MESSAGES/redtrust_middleware.mo`` catalogues below ``root``."""
    found: dict[str, gettext.GNUTranslations] = {}
    if not root.is_dir():
        return found
    for language in sorted(root.iterdir(), key=lambda entry: entry.name):
        compiled = language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if compiled.is_file():
            found[_tag(language.name)] = gettext.GNUTranslations(io.BytesIO(compiled.read_bytes()))
    return found


def _template(name: str, text: str, where: str) -> Template:
    """A checked template: valid ``$`` syntax and only the placeholders its page has."""
    template = Template(text)
    allowed = PAGE_VALUES[name]
    if not template.is_valid():
        raise ConfigurationError(
            "templates",
            f"{where} has a '$' that is not a placeholder: write '$$' for a dollar sign, "
            f"and placeholders as $name or ${{name}} ({', '.join(allowed)})",
        )
    unquoted = _UNQUOTED.search(text)
    if unquoted is not None:
        raise ConfigurationError(
            "templates",
            f"{where} puts ${unquoted[1]} in an attribute without quotes, where a space in "
            f'its value would start another attribute: write it in quotes: ="${unquoted[1]}"',
        )
    unknown = [n for n in template.get_identifiers() if n not in allowed]
    if unknown:
        raise ConfigurationError(
            "templates",
            f"{where} uses ${unknown[0]}, which {name} does not have: use "
            f"{', '.join('$' + n for n in allowed)}",
        )
    return template


class Pages:
    """The default :class:`PageRenderer`: ``string.Template`` pages, escaped, translated.

    Args:
        templates: a directory whose ``<page>.html`` files (see :data:`PAGE_NAMES`, plus
            ``layout.html``, the frame of every page) replace the built-in ones; files it
            lacks stay built in. Read once, here.
        locales: a directory of gettext catalogues,
            ``<lang>/LC_MESSAGES/redtrust_middleware.mo``, adding languages or rewording
            the built-in ones (messages they lack come from the built-in catalogue, then
            English).
        default_language: the language when the browser asks for none that is available.

    Every value is escaped before it enters a template (``html.escape``, quotes too), so a
    template cannot forget to; only the library's own :class:`Markup` (the sign-out form's
    hidden field, a page's content in the layout) goes in as it is.

    Raises:
        ConfigurationError: a directory is missing, or a template is unknown, has a stray
            ``$`` or a placeholder its page does not have (naming the file and the fix).
    """

    def __init__(
        self,
        *,
        templates: str | Path | None = None,
        locales: str | Path | None = None,
        default_language: str = "en",
    ) -> None:
        built_in = _BUILT_IN / "templates"
        self._templates = {
            name: _template(name, (built_in / f"{name}.html").read_text("utf-8"), name)
            for name in PAGE_VALUES
        }
        if templates is not None:
            self._templates.update(_overrides(Path(templates)))
        own = _catalogues(_BUILT_IN / "locale")
        if locales is not None:
            directory = Path(locales)
            if not directory.is_dir():
                raise ConfigurationError(
                    "locales",
                    f"{directory} is not a directory: give the folder that holds "
                    f"<lang>/LC_MESSAGES/{DOMAIN}.mo",
                )
            for language, catalogue in _catalogues(directory).items():
                if language in own:
                    catalogue.add_fallback(own[language])
                own[language] = catalogue
        self._gettext: dict[str, Callable[[str], str]] = {"en": str}
        self._gettext.update({language: c.gettext for language, c in own.items()})
        self.default_language = default_language
        if default_language not in self._gettext:
            raise ConfigurationError(
                "default_language",
                f"{default_language!r} has no catalogue: use one of {sorted(self._gettext)}",
            )
        #: The languages the pages speak (``en`` always).
        self.languages: tuple[str, ...] = tuple(sorted(self._gettext))
        self._vary = ("Accept-Language",) if len(self.languages) > 1 else ()

    def language(self, accept_language: str | None) -> str:
        """The language for a request with this ``Accept-Language`` header."""
        return choose_language(accept_language, self.languages, self.default_language)

    def render(self, page: Page, headers: Mapping[str, str]) -> RenderedPage:
        """The page in the language the request asks for."""
        language = self.language(headers.get("accept-language"))
        translate = self._gettext[language]

        def escaped(value: str | Text) -> str:
            if isinstance(value, Markup):
                return value
            text = value.translate(translate) if isinstance(value, Text) else value
            return html.escape(text)

        title = escaped(page.title)
        values = {name: escaped(value) for name, value in page.values.items()}
        values.update(lang=html.escape(language), title=title, message=escaped(page.message))
        content = self._templates[page.name].substitute(values)
        body = self._templates["layout"].substitute(
            lang=values["lang"], title=title, content=content
        )
        return RenderedPage(body=body, language=language, vary=self._vary)

    def __repr__(self) -> str:
        return f"Pages(languages={self.languages!r}, default_language={self.default_language!r})"


def _overrides(directory: Path) -> dict[str, Template]:
    if not directory.is_dir():
        raise ConfigurationError(
            "templates",
            f"{directory} is not a directory: give the folder that holds your <page>.html files",
        )
    found: dict[str, Template] = {}
    for path in sorted(directory.glob("*.html")):
        name = path.stem
        if name not in PAGE_VALUES:
            near = difflib.get_close_matches(name, list(PAGE_VALUES), n=1)
            fix = f"did you mean {near[0]}.html? " if near else ""
            raise ConfigurationError(
                "templates",
                f"{path} is not one of the library's pages: {fix}the pages are "
                f"{', '.join(n + '.html' for n in PAGE_VALUES)}",
            )
        found[name] = _template(name, path.read_text("utf-8"), str(path))
    return found
