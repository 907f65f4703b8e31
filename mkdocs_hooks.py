"""MkDocs hooks (mkdocs.yml): README.md is the site's home page.

The pages link to each other as GitHub shows them: README.md to ``docs/<page>.md``, the pages
of docs/ to each other by name and to ``../README.md``. On the site README.md is ``index.md``
beside those pages, so its links lose their ``docs/`` and the pages' links to it become
``index.md``. Nothing else is rewritten.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

README = Path(__file__).resolve().parent / "README.md"
HOME = "index.md"
_TO_DOCS = re.compile(r"\]\(docs/")
_TO_README = re.compile(r"\]\(\.\./README\.md")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add README.md as the home page."""
    files.append(File.generated(config, HOME, abs_src_path=str(README)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Map the GitHub layout's relative links to the site's."""
    if page.file.src_uri == HOME:
        return _TO_DOCS.sub("](", markdown)
    return _TO_README.sub(f"]({HOME}", markdown)
