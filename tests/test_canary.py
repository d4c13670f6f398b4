"""Canary: scanning every malicious fixture never runs, imports, opens or dials anything.

The scans run in a subprocess with a ``sys.addaudithook`` hook (hooks cannot be removed, so
never in the test process).  The hook records every audit event that would mean the scanner
executed or loaded content: process creation, ``exec``/``compile`` of anything but our own
AST-only parses and the import system's own work, ``marshal.loads`` outside imports,
``pickle.find_class``, sockets, ``urllib.Request``, ``ctypes.dlopen``, imports of modules that
are neither the standard library nor a runtime dependency, and file opens outside the scanned
paths and Python's own installation.  Any such event fails the test.  A self-test event at the
end proves the hook was live.
"""

from __future__ import annotations

import glob
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests import pickle_samples as ps
from tests.conftest import MARKER_GLOB

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, sysconfig

spec = json.load(open(sys.argv[1]))
roots = [os.path.realpath(p) for p in spec["roots"]]
lib_roots = {os.path.realpath(p) for p in (
    sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
    sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], spec["src"],
)}
allowed_modules = set(sys.stdlib_module_names) | set(spec["allowed_modules"])

import ast
AST_PARSE = ast.parse.__code__
# Runtime dependencies are imported before the hook goes live: importing numpy runs
# platform.uname(), which spawns `uname -p` whatever is being scanned (content-independent).
import h5py, numpy, jinja2, jinja2.sandbox  # noqa: E401,F401
import modelxray  # noqa: E402
from modelxray.analysis.python_ast import AST_FILENAME
from modelxray.analysis.pickle import scan_bytes, verdict_items, render_program
from modelxray.analysis.lambda_code import judge_code
from modelxray.budget import Budget

events = []
busy = False
PROCESS = ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
           "os.fork", "os.forkpty", "pty.spawn", "os.startfile")


def in_import_machinery(frame):
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib."):
            return True
        frame = frame.f_back
    return False


def under(path, bases):
    return any(path == b or path.startswith(b + os.sep) for b in bases)


def hook(event, args):
    global busy
    if busy:
        return
    busy = True
    try:
        bad = None
        if event.startswith(PROCESS) or event.startswith("socket.") or event in (
            "pickle.find_class", "urllib.Request", "ctypes.dlopen", "webbrowser.open",
        ):
            bad = repr(args)[:300]
        elif event == "compile":
            caller = sys._getframe(1)
            if caller.f_code is not AST_PARSE and not in_import_machinery(caller):
                bad = repr(args[1])[:300]
        elif event in ("exec", "marshal.loads", "marshal.load"):
            if not in_import_machinery(sys._getframe(1)):
                bad = repr(args)[:300]
        elif event == "import":
            top = str(args[0]).split(".")[0]
            if top not in allowed_modules:
                bad = str(args[0])
        elif event == "open":
            path, mode = args[0], args[1]
            # On a syntax error CPython opens the parse's file name to quote the bad line; the
            # scanner passes a constant pseudo-name (never one taken from the scanned content).
            from_ast = sys._getframe(1).f_code is AST_PARSE and path == AST_FILENAME
            if isinstance(path, (str, bytes)) and not from_ast:
                real = os.path.realpath(os.fsdecode(path))
                writes = isinstance(mode, str) and any(c in mode for c in "wax+")
                if writes or not (under(real, roots) or under(real, lib_roots)):
                    bad = f"{real} mode={mode!r}"
        if bad is not None:
            events.append({"event": event, "detail": bad})
    finally:
        busy = False


sys.addaudithook(hook)

report = modelxray.scan(spec["paths"])
files = len(report.files)
flagged = sum(1 for f in report.files if f.findings)
pickles = 0
for path in spec["pickles"]:
    streams = scan_bytes(open(path, "rb").read(), Budget())
    verdict_items(streams)
    for s in streams:
        render_program(s)
    pickles += 1
codes = 0
for path in spec["marshal"]:
    judge_code(open(path, "rb").read(), Budget())
    codes += 1

before = len(events)
compile("1", "<canary-self-test>", "eval")  # must be caught: proves the hook is live
selftest = len(events) == before + 1 and events[-1]["detail"] == "'<canary-self-test>'"
del events[before:]
print(json.dumps({"events": events, "files": files, "flagged": flagged, "pickles": pickles,
                  "codes": codes, "selftest": selftest}))
"""

# Runtime dependencies (and their own dependencies) the scanner may import lazily.
ALLOWED_MODULES = [
    "modelxray", "h5py", "numpy", "jinja2", "markupsafe", "tomli", "py7zr", "lz4",
    "zstandard", "msgpack", "yaml", "_cffi_backend",
]  # fmt: skip


def _archives(out: Path, corpus_files: list[Path]) -> list[Path]:
    """Malicious fixtures wrapped in the containers the scanner walks."""
    made = []
    z = out / "bundle.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, sample in list(ps.SAMPLES.items())[:40]:
            zf.writestr(f"pickles/{name}.pkl", sample.data)
        for p in corpus_files[:20]:
            zf.write(p, f"models/{p.name}")
    made.append(z)
    t = out / "bundle.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        for p in corpus_files[:20]:
            tf.add(p, f"models/{p.name}")
        data = io.BytesIO(ps.SAMPLES["t01_system_p4"].data)
        info = tarfile.TarInfo("model/data.pkl")
        info.size = len(data.getvalue())
        tf.addfile(info, data)
    made.append(t)
    return made


@pytest.fixture(scope="module")
def canary_run(
    keras_corpus: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("canary")
    pickles = []
    for name, sample in ps.SAMPLES.items():
        p = out / f"{name}.pkl"
        p.write_bytes(sample.data)
        pickles.append(p)
    corpus_files = sorted(
        {Path(s.path) for s in keras_corpus.values() if Path(s.path).is_file()}  # type: ignore[attr-defined]
    )
    corpus_dirs = sorted({str(p.parent) for p in corpus_files})
    archives = _archives(out, corpus_files)
    marshal_files = sorted(str(p) for p in (ROOT / "tests" / "data" / "marshal").glob("*.bin"))
    paths = [
        str(ROOT / "examples"),
        str(ROOT / "tests" / "data"),
        *corpus_dirs,
        str(out),
    ]
    spec = {
        "paths": paths,
        "roots": paths,
        "src": str(ROOT / "src"),
        "allowed_modules": ALLOWED_MODULES,
        "pickles": [str(p) for p in pickles],
        "marshal": marshal_files,
    }
    spec_path = out.parent / "canary-spec.json"
    spec_path.write_text(json.dumps(spec))
    for stale in glob.glob(MARKER_GLOB):
        os.remove(stale)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["expected_files"] = len(pickles) + len(corpus_files) + len(archives)
    result["expected_pickles"] = len(pickles)
    result["expected_codes"] = len(marshal_files)
    return result


def test_the_audit_hook_was_live(canary_run: dict[str, Any]) -> None:
    assert canary_run["selftest"] is True


def test_every_fixture_was_scanned(canary_run: dict[str, Any]) -> None:
    assert canary_run["files"] >= canary_run["expected_files"]
    assert canary_run["flagged"] > 0
    assert canary_run["pickles"] == canary_run["expected_pickles"] > 100
    assert canary_run["codes"] == canary_run["expected_codes"] > 100


def test_scanning_triggers_no_dangerous_audit_event(canary_run: dict[str, Any]) -> None:
    assert canary_run["events"] == []


def test_no_payload_marker_appeared(canary_run: dict[str, Any]) -> None:
    assert not glob.glob(MARKER_GLOB)
