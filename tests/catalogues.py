"""The shipped gettext catalogues, read from their ``.po`` text (not through the library)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_LOCALE = ROOT / "src" / "redtrust_middleware" / "pages" / "locale"
CORE_PO = CORE_LOCALE / "es" / "LC_MESSAGES" / "redtrust_middleware.po"
CORE_POT = CORE_LOCALE / "redtrust_middleware.pot"
DJANGO_PO = (
    ROOT / "integrations" / "redtrust_django" / "locale" / "es" / "LC_MESSAGES" / "django.po"
)


def po_entries(path: Path) -> dict[tuple[str | None, str], str]:
    """``{(msgctxt, msgid): msgstr}`` of a ``.po`` file (the header entry left out)."""
    entries: dict[tuple[str | None, str], str] = {}
    fields: dict[str, str] = {}
    current = ""

    def flush() -> None:
        if fields.get("msgid"):
            entries[(fields.get("msgctxt"), fields["msgid"])] = fields.get("msgstr", "")
        fields.clear()

    for line in [*path.read_text("utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            flush()
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[current] += ast.literal_eval(line)
        else:
            keyword, _, text = line.partition(" ")
            if keyword == "msgctxt" and "msgid" in fields:
                flush()
            current = keyword
            fields[current] = ast.literal_eval(text)
    return entries


def po_translations(path: Path) -> dict[str, str]:
    """``{msgid: msgstr}`` of the messages without a context."""
    return {msgid: text for (context, msgid), text in po_entries(path).items() if context is None}
