"""Messages marked for translation, translated late: by whoever renders the page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["N_", "Markup", "Text"]


@dataclass(frozen=True, slots=True)
class Text:
    """A message to translate (``msgid``, English), with the values of its ``%(name)s``
    placeholders; a value may itself be a :class:`Text`.

    ``str()`` gives the English text (log lines, JSON answers); :meth:`translate` the text
    in a catalogue's language, with the values put in after translation, so a translator
    can move them.
    """

    msgid: str
    values: tuple[tuple[str, str | Text], ...] = ()

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The message through ``gettext`` (a catalogue's, or Django's ``gettext``)."""
        translated = gettext(self.msgid)
        if not self.values:
            return translated
        return translated % {
            name: value.translate(gettext) if isinstance(value, Text) else value
            for name, value in self.values
        }

    def __str__(self) -> str:
        return self.translate(str)


def N_(msgid: str, **values: str | Text) -> Text:
    """Mark ``msgid`` for translation (extracted by ``xgettext --keyword=N_``)."""
    return Text(msgid, tuple(values.items()))


class Markup(str):
    """Text that is already HTML, put into a template as it is; only the library makes it
    (from escaped parts), never from a request's values."""

    __slots__ = ()
