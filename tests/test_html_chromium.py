"""The HTML report in a real browser: headless Chromium renders it, and a hostile name stays text.

Needs Chromium (``apt-get update && apt-get install -y chromium``); skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modelxray.engine import scan
from modelxray.reports import html as html_report

EXAMPLES = Path(__file__).parent.parent / "examples"
XSS_NAME = "<script>alert(1)</script>.h5"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "Chromium is not installed (apt-get update && apt-get install -y chromium); "
        "the browser tests of the HTML report need it"
    )


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(cmd, capture_output=True, timeout=180, env=env, check=False)


@pytest.fixture(scope="module")
def browser() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of the examples plus a copy of the malicious one with a markup name."""
    root = tmp_path_factory.mktemp("html")
    models = root / "models"
    shutil.copytree(EXAMPLES, models)
    hostile = models / XSS_NAME  # the "/" in the name makes a folder "<script>alert(1)<"
    hostile.parent.mkdir()
    shutil.copy(EXAMPLES / "malicious_lambda.h5", hostile)
    assert hostile.is_file()
    out = root / "report.html"
    out.write_text(html_report.to_html(scan(str(models))), encoding="utf-8")
    return out


def _dump_dom(browser: str, page: Path, tmp_path: Path) -> str:
    proc = _run(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr.decode("utf-8", "replace")[-2000:]
    return dom


def test_screenshot_renders(browser: str, page: Path, tmp_path: Path):
    png = tmp_path / "report.png"
    proc = _run(
        browser,
        tmp_path / "profile",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        page.as_uri(),
    )
    assert png.is_file(), proc.stderr.decode("utf-8", "replace")[-2000:]
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    # A rendered page with text and colour compresses far worse than a blank one (~10 kB).
    assert len(data) > 50_000


def test_dom_has_summary_rows_evidence_and_only_escaped_names(
    browser: str, page: Path, tmp_path: Path
):
    source = page.read_text(encoding="utf-8")
    dom = _dump_dom(browser, page, tmp_path)

    # Summary, gate verdict, filters.
    assert 'id="summary"' in dom and 'id="severity-counts"' in dom
    assert re.search(r'id="gate">Gate: FAILED', dom)
    assert 'id="filters"' in dom
    # Every file has a row in the overview and a section of its own.
    names = ["README.md", "clean_dense.keras", "malicious_lambda.h5",
             "tensor_math_lambda.keras", "&lt;script&gt;alert(1)&lt;/script&gt;.h5"]  # fmt: skip
    rows = re.findall(r'<tr class="file-row[^"]*">(.*?)</tr>', dom, flags=re.S)
    assert len(rows) == len(names)
    for name in names:
        assert sum(name in row for row in rows) == 1, name
    assert len(re.findall(r'<section class="file ', dom)) == len(names)
    # The MX-KERAS-101 evidence: the decoded call, readable in a <pre>.
    assert "MX-KERAS-101" in dom
    assert re.search(
        r"<pre>[^<]*__import__\('os'\)\.system\('echo MODELXRAY_MARKER &gt; "
        r"/tmp/modelxray_marker_malicious_lambda'\)",
        dom,
    )
    # The hostile name is text: no element made from it, only the page's own script.
    assert "<script>alert(1)</script>" not in dom
    assert dom.count("<script") == source.count("<script") == 1
    assert dom.count("&lt;script&gt;alert(1)&lt;/script&gt;.h5") >= 2  # table row + section
    # The script ran (CSP allowed it by hash) and counted the visible findings.
    assert "3 of 3 findings shown" in dom


def test_severity_filter_hides_rows_without_help_from_the_script(
    browser: str, page: Path, tmp_path: Path
):
    """Untick "critical" in the markup: CSS alone hides those rows (the script only counts)."""
    source = page.read_text(encoding="utf-8")
    box = 'id="show-critical" value="critical" checked>'
    assert box in source
    variant = page.with_name("report-no-critical.html")
    variant.write_text(source.replace(box, 'id="show-critical" value="critical">'), "utf-8")
    dom = _dump_dom(browser, variant, tmp_path)
    assert "1 of 3 findings shown" in dom
