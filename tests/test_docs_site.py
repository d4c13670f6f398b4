"""The user guide (docs/, mkdocs.yml): it builds with ``mkdocs build --strict`` and every
internal link and anchor in the built site resolves; its lists agree with the code."""

from __future__ import annotations

import importlib.util
import posixpath
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from modelxray.model import FormatName

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[docs]' or '.[test]')",
)


class _Links(HTMLParser):
    """Every href/src and every id (anchor) of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name in ("id", "name"):
                self.ids.add(value)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _target(site: Path, page: Path, path: str) -> Path | None:
    """The file a URL path on ``page`` points to (a folder means its index.html); None when
    it leaves the site.  An absolute path is taken from the site root (the 404 page's)."""
    here = page.parent.relative_to(site).as_posix()
    path = unquote(path)
    joined = posixpath.normpath(path.lstrip("/") if path.startswith("/") else f"{here}/{path}")
    if joined == ".." or joined.startswith("../"):
        return None
    target = site / joined
    return target / "index.html" if target.is_dir() else target


def _broken_links(site: Path) -> list[str]:
    pages = sorted(site.rglob("*.html"))
    parsed = {p: _parse(p) for p in pages}
    broken: list[str] = []
    for page, found in parsed.items():
        for link in found.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # external: not checked (no network in tests)
            target = _target(site, page, parts.path) if parts.path else page
            where = f"{page.relative_to(site)} -> {link}"
            if target is None or not target.is_file():
                broken.append(f"{where}: no {parts.path}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where}: no anchor #{parts.fragment}")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@needs_mkdocs
def test_site_builds_strict_and_every_internal_link_resolves(site: Path) -> None:
    pages = {p.relative_to(site).as_posix() for p in site.rglob("index.html")}
    for page in (
        "index.html",
        "getting-started/index.html",
        "policy/index.html",
        "reports/index.html",
        "rules/index.html",
        "rules/MX-KERAS-101/index.html",
    ):
        assert page in pages
    assert _broken_links(site) == []


@needs_mkdocs
def test_link_check_finds_a_broken_link(site: Path, tmp_path: Path) -> None:
    """The checker can fail: a page with a missing target and a missing anchor."""
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text('<a href="a/">a</a><a href="b/">b</a>', encoding="utf-8")
    (tmp_path / "a" / "index.html").write_text(
        '<h2 id="here">x</h2><a href="#here">ok</a><a href="../#nowhere">bad</a>'
        '<a href="https://example.org/">external</a>',
        encoding="utf-8",
    )
    assert _broken_links(tmp_path) == [
        "a/index.html -> ../#nowhere: no anchor #nowhere",
        "index.html -> b/: no b/",
    ]


def test_every_guide_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert pages and [p for p in pages if f": {p}" not in nav] == []
    assert ": rules/README.md" in nav


def test_format_names_in_the_guide_are_the_format_vocabulary() -> None:
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    section = text.split("## Format names", 1)[1]
    listed = re.findall(r"`([a-z0-9-]+)`", section.split("\n\n", 2)[2])
    assert listed == sorted(FormatName.values())
