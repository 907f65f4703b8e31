"""The shipped catalogues: the committed ``.mo`` files are their ``.po`` files compiled, the
``.po`` files hold every message the library marks, and Django's says what the core's says.

GNU ``msgfmt`` and ``xgettext`` (Debian package ``gettext``) are the independent tools: the
``.mo`` they compile is read with the standard library's ``gettext``, and compared message
by message with the committed one (the bytes may differ between msgfmt versions).
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.catalogues import CORE_PO, CORE_POT, DJANGO_PO, ROOT, po_entries, po_translations

from redtrust_django.pages import LANGUAGE_CONTEXT
from redtrust_middleware.testing import require_system

SOURCES = ROOT / "src" / "redtrust_middleware"
#: The modules whose N_() messages the pages show.
MARKED = (SOURCES / "_pages.py", SOURCES / "_hosts.py")


def _gettext_tools() -> None:
    require_system(
        shutil.which("msgfmt") is not None and shutil.which("xgettext") is not None,
        "GNU msgfmt and xgettext (Debian package gettext)",
    )


def _catalog(mo: Path) -> dict[object, str]:
    with mo.open("rb") as stream:
        catalog: dict[object, str] = gettext.GNUTranslations(stream)._catalog  # type: ignore[attr-defined]
    return {key: text for key, text in catalog.items() if key != ""}  # the header aside


@pytest.mark.parametrize("po", [CORE_PO, DJANGO_PO], ids=["core", "django"])
def test_the_committed_mo_is_the_po_compiled(po: Path, tmp_path: Path) -> None:
    _gettext_tools()
    compiled = tmp_path / "compiled.mo"
    # --check: each translation keeps its %(name)s placeholders (python-format).
    subprocess.run(
        ["msgfmt", "--check", "-o", str(compiled), str(po)],
        check=True,
    )
    assert _catalog(po.with_suffix(".mo")) == _catalog(compiled)


def test_the_po_files_hold_every_marked_message_translated(tmp_path: Path) -> None:
    _gettext_tools()
    extracted = tmp_path / "extracted.pot"
    subprocess.run(
        [
            "xgettext",
            "-L",
            "Python",
            "--keyword=N_",
            "--from-code=UTF-8",
            "-o",
            str(extracted),
            *map(str, MARKED),
        ],
        check=True,
    )
    marked = set(po_translations(extracted))
    assert set(po_translations(CORE_POT)) == marked  # the template is up to date
    spanish = po_translations(CORE_PO)
    assert set(spanish) == marked
    assert not [msgid for msgid, text in spanish.items() if not text or text == msgid]


def test_django_translates_the_pages_as_the_core_does() -> None:
    django = po_entries(DJANGO_PO)
    assert django.pop((LANGUAGE_CONTEXT, "en")) == "es"
    assert django == po_entries(CORE_PO)
