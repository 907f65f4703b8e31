"""The docs site builds (MkDocs, strict: any warning fails), and the pages' relative links
resolve both where MkDocs puts them and where GitHub shows them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(?P<text>.+?) *#*$")
FENCE = re.compile(r"^ *```")
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]


def github_anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes for ``page``: lower case, punctuation dropped, spaces
    to hyphens, a repeated anchor numbered ``-1``, ``-2``..."""
    anchors: set[str] = set()
    in_code = False
    for line in page.read_text("utf-8").split("\n"):
        if FENCE.match(line):
            in_code = not in_code
        heading = None if in_code else HEADING.match(line)
        if heading is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading["text"])  # a link's text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchor, number = slug, 0
        while anchor in anchors:
            number += 1
            anchor = f"{slug}-{number}"
        anchors.add(anchor)
    return anchors


def relative_links(page: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(page.read_text("utf-8").split("\n"), start=1):
        if FENCE.match(line):
            in_code = not in_code
        if in_code:
            continue
        for match in LINK.finditer(line):
            target = match["target"]
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                found.append((number, target))
    return found


def test_the_pages_link_to_each_other() -> None:
    links = {target for page in PAGES for _, target in relative_links(page)}
    assert "docs/configuration.md" in links  # README -> docs/
    assert "../README.md#django" in links  # docs/ -> README


def test_relative_links_resolve_on_github() -> None:
    problems: list[str] = []
    for page in PAGES:
        for number, target in relative_links(page):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked):
                problems.append(f"{where}: {linked.name} has no heading #{anchor}")
    assert not problems, "\n".join(problems)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [*MKDOCS, "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    home = (site / "index.html").read_text("utf-8")
    assert "Sign your web app" in home  # README.md is the home page
    assert 'href="configuration/"' in home  # its docs/ links, mapped to the site's layout
    for page in PAGES[1:]:
        assert (site / page.stem / "index.html").exists(), page.name
    django = (site / "django" / "index.html").read_text("utf-8")
    assert 'href="../#django"' in django  # ../README.md#django
