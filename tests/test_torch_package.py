"""torch.package archives: pickles resolved through the archive's own importer.

Committed fixtures (tests/data/torch_package/make_torch_package.py): ``benign.pt`` made by the
real ``PackageExporter``, malicious variants assembled by hand from it (payloads only echo a
marker; nothing here loads them).  One more benign archive is made here by the real exporter
when torch is installed: bundled code that imports ``os`` for ``os.path`` (the exporter externs
standard-library modules by itself).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

import modelxray
from modelxray.analysis.pickle.torch_package import PackageLayout, demangle, module_of_source
from modelxray.containers.zip import classify_archive
from modelxray.model import Severity
from tests.conftest import data_path


def _scan(path: Path | str) -> modelxray.FileResult:
    (result,) = modelxray.scan(str(path)).files
    return result


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def test_real_package_is_read_as_a_package_and_stays_below_low() -> None:
    r = _scan(data_path("torch_package", "benign.pt"))
    assert "torch-package" in r.formats and r.verdict == "allowed"
    assert all(f.severity < Severity.LOW for f in r.findings), r.findings
    (f,) = [f for f in r.findings if f.rule_id == "MX-TORCH-005"]
    assert f.evidence["global"] == "tiny_net.TinyNet"
    assert f.evidence["bundled_source"] == "archive/tiny_net.py"


def test_real_package_whose_code_imports_os_is_below_medium(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch.package import PackageExporter

    src = tmp_path / "src"
    src.mkdir()
    (src / "path_net.py").write_text(
        "import os\n\nfrom torch import nn\n\n\nclass PathNet(nn.Module):\n"
        "    def __init__(self) -> None:\n        super().__init__()\n"
        "        self.fc = nn.Linear(3, 1)\n        self.where = os.path.join('a', 'b')\n"
    )
    sys.path.insert(0, str(src))
    try:
        import path_net

        out = tmp_path / "pkg.pt"
        with PackageExporter(str(out)) as pe:
            pe.extern("torch.**")
            pe.intern("path_net")
            pe.save_pickle("model", "model.pkl", path_net.PathNet())
    finally:
        sys.path.remove(str(src))
        sys.modules.pop("path_net", None)
    assert torch is not None
    assert b"os" in _members(out)["pkg/.data/extern_modules"].split()
    r = _scan(out)
    assert r.verdict == "allowed"
    assert all(f.severity < Severity.MEDIUM for f in r.findings), r.findings
    (ext,) = [f for f in r.findings if f.rule_id == "MX-TORCH-004"]
    assert ext.evidence["module"] == "os" and ext.severity == Severity.LOW


@pytest.mark.usefixtures("assert_no_marker")
def test_bundled_module_running_a_command_on_import_is_high() -> None:
    r = _scan(data_path("torch_package", "bundled_system.pt"))
    assert r.verdict == "blocked"
    hit = next(f for f in r.findings if f.rule_id == "MX-REPO-103")
    assert hit.severity >= Severity.HIGH and hit.location.inner[0] == "archive/tiny_net.py"
    assert "os.system" in hit.message


@pytest.mark.usefixtures("assert_no_marker")
@pytest.mark.parametrize("name", ["extern_os_pickle.pt", "mangled_system.pt"])
def test_pickle_reaching_os_system_is_critical(name: str) -> None:
    r = _scan(data_path("torch_package", name))
    crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-PICKLE-001"], r.findings
    assert crit[0].location.inner[0] == "archive/model/run.pkl"
    assert "MX-PICKLE-005" not in {f.rule_id for f in r.findings}  # read as a pickle


@pytest.mark.usefixtures("assert_no_marker")
def test_bundled_module_shadowing_a_denied_one_stays_critical(tmp_path: Path) -> None:
    members = _members(data_path("torch_package", "extern_os_pickle.pt"))
    ext = "archive/.data/extern_modules"
    members[ext] = b"\n".join(m for m in members[ext].split() if m != b"os") + b"\n"
    members["archive/os.py"] = b"def system(cmd):\n    return 0\n"
    r = _scan(_zip(tmp_path / "shadow.pt", members))
    crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
    assert crit and crit[0].evidence["global"] == "os.system"


def test_unresolved_class_outside_the_package_stays_medium(tmp_path: Path) -> None:
    members = _members(data_path("torch_package", "benign.pt"))
    del members["archive/tiny_net.py"]  # the importer cannot find tiny_net now
    r = _scan(_zip(tmp_path / "nosrc.pt", members))
    assert {(f.rule_id, f.severity) for f in r.findings} == {("MX-PICKLE-003", Severity.MEDIUM)}


def test_extern_entry_on_the_path_sends_the_name_to_the_host() -> None:
    layout = PackageLayout.from_members(
        ["r/a/__init__.py", "r/a/b.py", "r/c.py", "r/.data/x.py", "r/d.txt"], ["c"]
    )
    assert layout.bundled == {"a": "a/__init__.py", "a.b": "a/b.py", "c": "c.py"}
    assert layout.bundled_source("a.b") == "r/a/b.py"
    assert layout.bundled_source("<torch_package_3>.a") == "r/a/__init__.py"
    assert layout.bundled_source("c") is None  # extern wins: imported from the host
    assert layout.bundled_source("zzz") is None


def test_demangle_and_source_paths() -> None:
    assert demangle("<torch_package_0>.os") == "os"
    assert demangle("<torch_package_12>") == ""
    assert demangle("torch.nn") == "torch.nn"
    assert module_of_source("a/b/__init__.py") == "a.b"
    assert module_of_source(".data/extern_modules") is None
    assert module_of_source("a-b.py") is None


def test_a_torch_checkpoint_with_package_metadata_stays_a_torch_checkpoint() -> None:
    names = ["m/data.pkl", "m/.data/version", "m/.data/extern_modules", "m/data/0"]
    assert classify_archive(names) == "pytorch-zip"  # torch.load reads data.pkl, not the package
    assert classify_archive(names[1:3] + ["m/x.pkl"]) == "torch-package"


@pytest.mark.usefixtures("assert_no_marker")
def test_bundled_source_is_read_as_python_whatever_it_looks_like(tmp_path: Path) -> None:
    members = _members(data_path("torch_package", "benign.pt"))
    # one expression statement: nothing a content sniffer would call Python source
    members["archive/tiny_net.py"] = (
        b"__import__('os').system('echo pwned > /tmp/modelxray_marker_torch_package')\n"
    )
    r = _scan(_zip(tmp_path / "oneliner.pt", members))
    hit = next(f for f in r.findings if f.rule_id == "MX-REPO-103")
    assert hit.severity >= Severity.HIGH and hit.location.inner[0] == "archive/tiny_net.py"
    assert r.verdict == "blocked"
