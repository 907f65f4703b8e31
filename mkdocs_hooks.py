"""MkDocs hooks (mkdocs.yml): README.md is the site's home page, CHANGELOG.md its changelog.

The pages link to each other as GitHub shows them: README.md to ``docs/<page>.md``, the pages
of docs/ to each other by name and to ``../README.md``. On the site README.md is ``index.md``
beside those pages, so its links lose their ``docs/`` and the pages' links to it become
``index.md``; README.md's link to ``CHANGELOG.md`` (beside it in the repository) is the
site's ``changelog.md``. Nothing else is rewritten.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent
README = ROOT / "README.md"
CHANGELOG = ROOT / "CHANGELOG.md"
HOME = "index.md"
CHANGES = "changelog.md"
_TO_DOCS = re.compile(r"\]\(docs/")
_TO_README = re.compile(r"\]\(\.\./README\.md")
_TO_CHANGELOG = re.compile(r"\]\(CHANGELOG\.md")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add README.md as the home page, CHANGELOG.md as the changelog and the benchmark
    plots (``benchmarks/results/*.png``) README.md shows."""
    files.append(File.generated(config, HOME, abs_src_path=str(README)))
    files.append(File.generated(config, CHANGES, abs_src_path=str(CHANGELOG)))
    # The benchmark plots README.md shows, at the same relative path as on GitHub.
    for plot in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        uri = plot.relative_to(ROOT).as_posix()
        files.append(File.generated(config, uri, abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Map the GitHub layout's relative links to the site's."""
    if page.file.src_uri == HOME:
        return _TO_CHANGELOG.sub(f"]({CHANGES}", _TO_DOCS.sub("](", markdown))
    return _TO_README.sub(f"]({HOME}", markdown)
