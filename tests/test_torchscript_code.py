"""TorchScript ``code/`` members judged by what their names resolve to.

Benign: modules scripted and saved by the real ``torch.jit`` (every ``raise`` serializes as
``ops.prim.RaiseException(msg, "builtins.ValueError")``).  Malicious: the same real archive with
its code member rewritten by hand (never loaded: the scanner only reads the zip).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from modelxray.engine import scan
from modelxray.formats.torch import judge_reference, torchscript_references
from modelxray.model import Severity

torch = pytest.importorskip("torch")


def _scripted_module(path: Path) -> Path:
    class Checked(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            if x.dim() != 2:
                raise ValueError("expected a 2-D input, not os.system or open('f')")
            if x.size(1) != 4:
                raise RuntimeError("expected 4 features")
            if bool(torch.isnan(x).any()):
                raise TypeError("NaN input")
            return torch.relu(self.lin(x))

    torch.jit.save(torch.jit.script(Checked()), str(path))
    return path


def _code_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if "/code/" in n and n.endswith(".py")}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _scripted_module(tmp_path_factory.mktemp("ts") / "checked.pt")


def test_real_scripted_module_with_raise_is_not_blocked(scripted: Path) -> None:
    code = b"".join(_code_members(scripted).values())
    assert b"builtins.ValueError" in code and b"RaiseException" in code  # what torch wrote
    r = scan(str(scripted)).files[0]
    assert "torchscript" in r.formats and r.status == "scanned"
    assert [f for f in r.findings if f.rule_id == "MX-TORCH-003"] == []
    assert r.max_severity is not None and r.max_severity < Severity.HIGH
    assert r.verdict == "allowed"


def _rewrite(src: Path, dst: Path, extra: bytes) -> Path:
    """Copy a real TorchScript archive, ``extra`` put first in Checked.forward()'s body."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/code/__torch__/" + __name__.replace(".", "/") + ".py"):
                head, rest = data.split(b") -> Tensor:\n", 1)  # end of forward's signature
                data = head + b") -> Tensor:\n" + extra + rest
            zout.writestr(info, data)
    assert extra in b"".join(_code_members(dst).values())
    return dst


HOSTILE = [
    (b'    _0 = torch.from_file("/etc/passwd", False, 4096)\n', "torch.from_file"),
    (b'    _0 = ops.aten.from_file("/etc/passwd", False, 4096)\n', "ops.aten.from_file"),
    (b'    torch.save(x, "/tmp/MODELXRAY_MARKER")\n', "torch.save"),
    (b'    _1 = ops.aten.save(x, "/tmp/MODELXRAY_MARKER")\n', "ops.aten.save"),
    (b'    _2 = open("/tmp/MODELXRAY_MARKER", "w")\n', "open"),
    (b'    _3 = os.system("echo MODELXRAY_MARKER")\n', "os.system"),
    (b"    _4 = ops.evil.run(x)\n", "ops.evil.run"),
    (b'    _5 = torch.classes.evil.Runner("x")\n', "torch.classes.evil.Runner"),
]


@pytest.mark.parametrize(("line", "reference"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_file_and_os_operations_in_code_are_flagged(
    scripted: Path, tmp_path: Path, line: bytes, reference: str
) -> None:
    path = _rewrite(scripted, tmp_path / "hostile.pt", line)
    r = scan(str(path)).files[0]
    risky = [f for f in r.findings if f.rule_id == "MX-TORCH-003"]
    assert [f.evidence["reference"] for f in risky] == [reference]
    (f,) = risky
    assert f.severity == Severity.HIGH and r.verdict == "blocked"
    assert (
        f.location.inner[-1].startswith("line ") and line.strip().decode() in f.evidence["source"]
    )
    assert not Path("/tmp/MODELXRAY_MARKER").exists()


def test_strings_are_data_names_are_judged() -> None:
    src = (
        "def forward(self, x):\n"
        '    ops.prim.RaiseException("os.system(1) open(f)", "builtins.ValueError")\n'
        "    _0 = torch.add(x, 1)\n    return ops.aten.relu(_0)\n"
    )
    judged = torchscript_references(src)
    assert judged is not None
    risky, calls = judged
    assert risky == [] and "ops.prim.RaiseException" in calls
    assert judge_reference("builtins.ValueError") is None
    assert judge_reference("builtins.eval") is not None  # not an exception type
    assert judge_reference("torch.ops.aten.from_file") is not None
    assert judge_reference("torch.relu") is None


def test_code_that_is_not_python_syntax_is_still_judged(scripted: Path, tmp_path: Path) -> None:
    path = _rewrite(scripted, tmp_path / "broken.pt", b'    _0 = torch.save(input, "/tmp/p"\n')
    r = scan(str(path)).files[0]
    risky = [f for f in r.findings if f.rule_id == "MX-TORCH-003"]
    # names are judged outside strings; a builtin's name counts only where it is called
    assert [f.evidence["reference"] for f in risky] == ["torch.save"]
    code = [f for f in r.findings if f.rule_id == "MX-TORCH-002"]
    assert any(f.evidence.get("python_syntax") is False for f in code)
