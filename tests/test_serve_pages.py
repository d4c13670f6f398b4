"""The service's pages in headless Chromium (issue 18): the dashboard and a report page, with
a hostile file name and template string shown as text, never as markup.

Needs Chromium (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from tests.serve_support import running  # noqa: E402
from tests.test_html_chromium import PNG_MAGIC, _chromium, _run  # noqa: E402
from tests.test_serve import evil_pickle  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>{{7*7}}<b>bold.pkl"  # no "/": names are plain


def test_dashboard_and_report_in_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    marker = tmp_path / "MARKER"
    with running(tmp_path / "data", None, "--open-pages") as server:
        status, scan = server.upload(HOSTILE, evil_pickle(marker))
        assert status == 202
        server.wait_done([scan["id"]])
        for name, path in (("dashboard", "/"), ("report", f"/scans/{scan['id']}")):
            proc = _run(browser, tmp_path / f"profile-{name}", "--dump-dom", server.url + path)
            dom = proc.stdout.decode("utf-8", "replace")
            assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
            # the name is text: escaped in the DOM, no element made of it, template unrendered
            assert "&lt;img src=x onerror=alert(1)&gt;{{7*7}}&lt;b&gt;bold.pkl" in dom
            assert not re.search(r"<img\b", dom) and "<b>bold" not in dom
            assert "{{7*7}}" in dom and ">49<" not in dom
            shot = tmp_path / f"{name}.png"
            proc = _run(
                browser, tmp_path / f"profile-{name}", f"--screenshot={shot}",
                "--window-size=1280,1000", server.url + path,
            )  # fmt: skip
            assert proc.returncode == 0 and shot.read_bytes().startswith(PNG_MAGIC)
    assert not marker.exists()
