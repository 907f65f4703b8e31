"""The library's pages from Django templates, in Django's active language.

The core's gate decides which page a request gets; :class:`DjangoPages` renders it from
``redtrust/<page>.html`` (shipped in this app's ``templates``; a project's template
directory, or an app listed before ``redtrust_django``, overrides them the Django way),
with the messages translated by Django's ``gettext`` (this app's
``locale/<lang>/LC_MESSAGES/django.po``, or a project's ``LOCALE_PATHS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.template import Context, Engine, TemplateDoesNotExist
from django.template.loader import get_template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, pgettext

from redtrust_middleware.pages import Markup, Page, RenderedPage, Text

__all__ = ["LANGUAGE_CONTEXT", "DjangoPages"]

#: The message whose translation names a catalogue's language (``<html lang>``): each
#: language's ``django.po`` translates ``en`` in this context to its own code.
LANGUAGE_CONTEXT = "language of the redtrust pages"
#: The shipped templates, for projects whose TEMPLATES has no engine that finds them (an API
#: without templates, or APP_DIRS off): the pages render all the same.
_OWN = Engine(dirs=[str(Path(__file__).parent / "templates")])


class DjangoPages:
    """The :class:`~redtrust_middleware.pages.PageRenderer` of the Django app."""

    def render(self, page: Page, headers: Mapping[str, str]) -> RenderedPage:
        """``redtrust/<page>.html`` in the active language (LocaleMiddleware, when it is
        installed, already varies the response on ``Accept-Language``)."""
        # LANGUAGE_CONTEXT, written out: xgettext (make messages) extracts literals only.
        language = pgettext("language of the redtrust pages", "en")
        # Every value escaped here, as the core's pages do: a project whose engine turns
        # autoescape off (or a template's |safe) cannot unescape it. Markup is the library's
        # own, built from escaped parts (the sign-out form's field).
        context: dict[str, Any] = {
            name: mark_safe(value) if isinstance(value, Markup) else _text(value)  # noqa: S308
            for name, value in page.values.items()
        }
        context.update(
            lang=conditional_escape(language),
            title=_text(page.title),
            message=_text(page.message),
        )
        name = f"redtrust/{page.name}.html"
        try:
            body = get_template(name).render(context)
        except TemplateDoesNotExist:
            body = _OWN.get_template(name).render(Context(context))
        return RenderedPage(body=body, language=language)


def _text(value: str | Text) -> SafeString:
    """``value`` translated (Django's active language) and HTML-escaped."""
    return conditional_escape(value.translate(gettext) if isinstance(value, Text) else value)
