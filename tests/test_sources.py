"""Sources fail closed (issue 11, "silent passes"): unlistable folders, special files, links
whose target is not scanned and runs that judge nothing are findings; include/exclude match one
path form however it is typed; Hugging Face cache snapshots are scanned through their blobs.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelxray.engine import ScanOptions, scan
from modelxray.model import Report, Verdict
from modelxray.policy import Policy, RuleSetting, load_policy
from modelxray.sources import iter_sources
from tests.pickle_samples import call1, cmd

SRC = str(Path(__file__).parent.parent / "src")
# Hang guard only (a regression must fail, not stall the suite); nothing is timed.
GUARD = 120


def _cli(
    *args: str, cwd: Path | None = None, prefix: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "modelxray", "scan", "--no-policy", "-f", "json", *args],
        capture_output=True,
        text=True,
        timeout=GUARD,
        cwd=cwd,
        env=env,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _rules(report: Report) -> dict[str, set[str]]:
    return {Path(r.path).name: {f.rule_id for f in r.findings} for r in report.files}


def _pickle(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    return path


# ------------------------------------------------------------------------ unlistable folders


def test_unlistable_folder_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk's own listing call fails for one folder: that folder is an error, the rest runs."""
    _pickle(tmp_path / "a.pkl")
    _pickle(tmp_path / "locked" / "hidden.pkl")
    real_scandir = os.scandir
    locked = str(tmp_path / "locked")

    def scandir(path: str) -> object:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = scan(str(tmp_path))
    by_name = {Path(r.path).name: r for r in report.files}
    assert set(by_name) == {"a.pkl", "locked"}
    (finding,) = by_name["locked"].findings
    assert finding.rule_id == "MX-SCAN-004" and "could not be listed" in finding.message
    assert finding.evidence["errno"] == 13
    assert (
        by_name["locked"].verdict == Verdict.ERROR and by_name["a.pkl"].verdict == Verdict.ALLOWED
    )
    assert report.failed
    # include patterns cannot judge what an unlisted folder holds: it stays in the report.
    included = scan(str(tmp_path), ScanOptions(policy=Policy(include=("*.pkl",))))
    assert {Path(r.path).name for r in included.files} == {"a.pkl", "locked"}
    # an exclude that names the folder does leave it out.
    excluded = scan(str(tmp_path), ScanOptions(policy=Policy(exclude=(f"{locked}/",))))
    assert {Path(r.path).name for r in excluded.files} == {"a.pkl"}


def _without_permission_override() -> tuple[str, ...] | None:
    """A command prefix under which permission bits apply, or None when none is available."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    # root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys a mode-000 folder it owns.
    prefix = (setpriv, "--bounding-set", "-dac_override,-dac_read_search")
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=GUARD)
    return prefix if probe.returncode == 0 else None


def test_unreadable_folder_for_real(tmp_path: Path) -> None:
    """A real EACCES from the kernel, through the real CLI."""
    prefix = _without_permission_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    _pickle(tmp_path / "models" / "a.pkl")
    locked = tmp_path / "models" / "private"
    _pickle(locked / "b.pkl")
    locked.chmod(0)
    try:
        code, doc = _cli(str(tmp_path / "models"), prefix=prefix)
        code_root, doc_root = _cli(str(locked), prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert code == 1 and code_root == 1
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert files["a.pkl"]["verdict"] == "allowed"
    assert files["private"]["verdict"] == "error"
    assert [f["rule_id"] for f in files["private"]["findings"]] == ["MX-SCAN-004"]
    assert "b.pkl" not in files
    assert [f["rule_id"] for f in doc_root["files"][0]["findings"]] == ["MX-SCAN-004"]


# ------------------------------------------------------------------------ include / exclude


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _pickle(tmp_path / "models" / "keep.pkl")
    _pickle(tmp_path / "models" / "skip.pkl")
    _pickle(tmp_path / "models" / "sub" / "deep.pkl")
    _pickle(tmp_path / "other" / "x.pkl")
    (tmp_path / "models" / "notes.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _selected(policy_text: str, project: Path, *paths: str) -> list[str]:
    pf = project / "modelxray.toml"
    pf.write_text(policy_text)
    report = scan(list(paths), ScanOptions(policy=load_policy(str(pf))))
    out = []
    for r in report.files:
        assert r.findings == [] or r.path.endswith(".txt"), r.findings
        out.append(Path(r.path).resolve().relative_to(project).as_posix())
    return sorted(out)


@pytest.mark.parametrize("spelling", ["./models", "models", "ABS", "./models/", "models/../models"])
@pytest.mark.parametrize(
    "policy",
    [
        'include = ["models/*.pkl"]\nexclude = ["models/skip.pkl"]\n',
        'include = ["./models/*.pkl"]\nexclude = ["./models/skip.pkl"]\n',
        'include = ["*.pkl"]\nexclude = ["skip.pkl", "other"]\n',
        'include = ["models/"]\nexclude = ["*.txt", "models/skip.*"]\n',
    ],
)
def test_patterns_match_one_form_however_the_path_is_typed(
    project: Path, spelling: str, policy: str
) -> None:
    path = str(project / "models") if spelling == "ABS" else spelling
    assert _selected(policy, project, path) == ["models/keep.pkl", "models/sub/deep.pkl"]


@pytest.mark.parametrize("spelling", ["./models/skip.pkl", "models/skip.pkl", "ABS"])
def test_a_file_named_directly_matches_the_same_pattern(project: Path, spelling: str) -> None:
    path = str(project / "models" / "skip.pkl") if spelling == "ABS" else spelling
    report = scan(
        [path, "models/keep.pkl"],
        ScanOptions(policy=Policy(exclude=("models/skip.pkl",), source="modelxray.toml")),
    )
    assert [Path(r.path).name for r in report.files] == ["keep.pkl"]


def test_patterns_are_relative_to_the_policy_folder(project: Path) -> None:
    pf = project / "modelxray.toml"
    pf.write_text('exclude = ["models/sub"]\n')
    policy = load_policy(str(pf))
    elsewhere = project / "other"
    os.chdir(elsewhere)  # the scan runs from another folder: same patterns, same files
    report = scan(str(project / "models"), ScanOptions(policy=policy))
    names = {Path(r.path).name for r in report.files}
    assert names == {"keep.pkl", "skip.pkl", "notes.txt"}
    # An absolute pattern works from anywhere; a path outside the policy folder is matched
    # by its absolute path and by its name.
    absolute = Policy(exclude=(f"{project}/models/sub/*",))
    report = scan("../models", ScanOptions(policy=absolute))
    assert "deep.pkl" not in {Path(r.path).name for r in report.files}
    outside = Policy(include=("x.pkl",), source=str(project / "models" / "modelxray.toml"))
    assert [Path(r.path).name for r in scan(str(project), ScanOptions(policy=outside)).files] == [
        "x.pkl"
    ]


# ------------------------------------------------------------------------ nothing scanned


def test_an_empty_folder_is_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = scan(str(tmp_path / "empty"))
    (result,) = report.files
    (finding,) = result.findings
    assert finding.rule_id == "MX-SCAN-009" and "holds no file" in finding.message
    assert finding.evidence["files_found"] == 0
    assert result.verdict == Verdict.ERROR and report.failed
    code, doc = _cli(str(tmp_path / "empty"))
    assert code == 1 and doc["failed"] is True
    assert [f["rule_id"] for f in doc["files"][0]["findings"]] == ["MX-SCAN-009"]


def test_everything_excluded_is_not_a_pass(project: Path) -> None:
    pf = project / "modelxray.toml"
    pf.write_text('include = ["model/*"]\n')  # a typo: the folder is "models"
    report = scan("models", ScanOptions(policy=load_policy(str(pf))))
    (result,) = report.files
    (finding,) = result.findings
    assert finding.rule_id == "MX-SCAN-009" and "left out all 4 file(s)" in finding.message
    assert finding.evidence["include"] == ["model/*"]
    assert finding.evidence["patterns_relative_to"] == str(project)
    assert report.failed
    # An empty run a team expects is allowed only by turning the rule off, explicitly.
    off = Policy(include=("model/*",), rules={"MX-SCAN-009": RuleSetting("off")})
    quiet = scan("models", ScanOptions(policy=off))
    assert quiet.files == [] and not quiet.failed
    # One selected file anywhere in the run is enough: no finding then.
    assert not scan(["models", "other"], ScanOptions(policy=Policy(include=("other/*",)))).failed


# ------------------------------------------------------------------------ links


def test_an_escaping_link_is_never_ok(tmp_path: Path) -> None:
    outside = _pickle(tmp_path / "outside" / "w.pkl")
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.pkl").symlink_to(outside)
    (model / "dir").symlink_to(outside.parent, target_is_directory=True)
    report = scan(str(model))
    assert _rules(report) == {"w.pkl": {"MX-SCAN-004", "MX-SCAN-005"},
                              "dir": {"MX-SCAN-004", "MX-SCAN-005"}}  # fmt: skip
    # Turning the escape rule off (or even both) leaves files whose content was not read:
    # errors while fail_on_unscannable is on, never "ok".
    for off in (("MX-SCAN-005",), ("MX-SCAN-004", "MX-SCAN-005")):
        policy = Policy(rules={rid: RuleSetting("off") for rid in off})
        files = scan(str(model), ScanOptions(policy=policy)).files
        assert {r.verdict for r in files} == {Verdict.ERROR}
        assert {r.status for r in files} == {"unscannable"}


def _hf_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """A cache entry written by huggingface_hub's own cache functions (what hf_hub_download
    does after a download, without the network); returns the snapshot folder."""
    hf = pytest.importorskip("huggingface_hub")
    from huggingface_hub import file_download as fd

    commit = "0123456789abcdef0123456789abcdef01234567"
    storage = os.path.join(str(cache), fd.repo_folder_name(repo_id=repo_id, repo_type="model"))
    fd._cache_commit_hash_for_specific_revision(storage, "main", commit)
    for name, data in files.items():
        import hashlib

        blob = os.path.join(storage, "blobs", hashlib.sha256(data).hexdigest())
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        Path(blob).write_bytes(data)
        pointer = fd._get_pointer_path(storage, commit, name)
        os.makedirs(os.path.dirname(pointer), exist_ok=True)
        fd._create_symlink(blob, pointer, new_blob=True)
    # huggingface_hub itself reads it back as a valid cache.
    info = hf.scan_cache_dir(cache)
    assert not info.warnings, info.warnings
    (repo,) = [r for r in info.repos if r.repo_id == repo_id]
    assert {f.file_name for r in repo.revisions for f in r.files} == {
        os.path.basename(n) for n in files
    }
    snapshot = fd.try_to_load_from_cache(repo_id, next(iter(files)), cache_dir=cache)
    assert isinstance(snapshot, str)
    return Path(storage) / "snapshots" / commit


def test_hugging_face_snapshot_is_scanned_through_its_blobs(tmp_path: Path) -> None:
    evil = call1("os", "system", cmd("hf_cache"))
    snapshot = _hf_cache(
        tmp_path / "hub",
        "org/name",
        {
            "pytorch_model.bin": evil,
            "sub/extra.pkl": pickle.dumps([1, 2, 3], protocol=4),
            "config.json": b'{"model_type": "bert"}',
            "model.safetensors": b"no model format at all",
        },
    )
    assert os.readlink(snapshot / "pytorch_model.bin").startswith("../../blobs/")
    for root in (snapshot, snapshot / "sub"):
        report = scan(str(root))
        for r in report.files:
            assert r.path.startswith(str(root)), r.path  # shown under the snapshot name
            assert not {"MX-SCAN-004", "MX-SCAN-005"} & {f.rule_id for f in r.findings}
    report = scan(str(snapshot))
    by_name = {Path(r.path).name: r for r in report.files}
    assert set(by_name) == {"config.json", "pytorch_model.bin", "extra.pkl", "model.safetensors"}
    # judged under the name the loader opens (the blob is named by its hash): the name
    # promises SafeTensors, the content is none
    assert {f.rule_id for f in by_name["model.safetensors"].findings} == {"MX-SCAN-003"}
    # The whole cache: each blob is judged once, under its snapshot name, not again by hash.
    whole = scan(str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--org--name"
    assert sorted(Path(r.path).relative_to(repo).as_posix() for r in whole.files) == [
        "refs/main",
        *sorted(Path(r.path).relative_to(repo).as_posix() for r in report.files),
    ]
    assert [r.verdict for r in whole.files if r.path.endswith("pytorch_model.bin")] == ["blocked"]
    # A blob no snapshot links to is still scanned, by its hash name.
    (repo / "blobs" / "orphan").write_bytes(call1("os", "system", cmd("hf_orphan")))
    orphan = [r for r in scan(str(tmp_path / "hub")).files if r.path.endswith("orphan")]
    assert [r.verdict for r in orphan] == ["blocked"]
    assert by_name["pytorch_model.bin"].verdict == "blocked"
    assert any("system" in f.message for f in by_name["pytorch_model.bin"].findings)
    assert (
        by_name["extra.pkl"].verdict == Verdict.ALLOWED and "pickle" in by_name["extra.pkl"].formats
    )


def test_snapshot_links_elsewhere_still_escape(tmp_path: Path) -> None:
    snapshot = _hf_cache(tmp_path / "hub", "org/a", {"w.pkl": pickle.dumps(1, protocol=4)})
    other = _hf_cache(tmp_path / "hub", "org/b", {"v.pkl": pickle.dumps(2, protocol=4)})
    other_blob = os.path.realpath(other / "v.pkl")
    (snapshot / "foreign.pkl").symlink_to(other_blob)  # another repository's blob
    (snapshot / "secret").symlink_to(_pickle(tmp_path / "home" / "secret.pkl"))
    # the same shape outside a repository folder named like huggingface_hub names them
    fake = tmp_path / "fake" / "snapshots" / "rev"
    fake.mkdir(parents=True)
    _pickle(tmp_path / "fake" / "blobs" / "b1")
    (fake / "w.pkl").symlink_to("../../blobs/b1")
    assert _rules(scan(str(snapshot))) == {
        "foreign.pkl": {"MX-SCAN-004", "MX-SCAN-005"},
        "secret": {"MX-SCAN-004", "MX-SCAN-005"},
        "w.pkl": set(),
    }
    assert _rules(scan(str(fake))) == {"w.pkl": {"MX-SCAN-004", "MX-SCAN-005"}}


# ------------------------------------------------------------------------ special files


def test_special_files_in_a_folder_are_findings(tmp_path: Path) -> None:
    _pickle(tmp_path / "a.pkl")
    os.mkfifo(tmp_path / "pipe.bin")
    (tmp_path / "link.bin").symlink_to(tmp_path / "pipe.bin")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.sock"))
        code, doc = _cli(str(tmp_path))
    finally:
        sock.close()
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert code == 1
    assert files["a.pkl"]["verdict"] == "allowed"
    for name, kind in (("pipe.bin", "FIFO"), ("link.bin", "FIFO"), ("s.sock", "socket")):
        (finding,) = files[name]["findings"]
        assert finding["rule_id"] == "MX-SCAN-010" and kind in finding["message"], name
        assert files[name]["verdict"] == "error"


def test_a_fifo_named_directly_does_not_block_the_scan(tmp_path: Path) -> None:
    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    code, doc = _cli(str(fifo))
    assert code == 1
    assert [f["rule_id"] for f in doc["files"][0]["findings"]] == ["MX-SCAN-010"]
    assert [s.problems[0][0].id for s in iter_sources([str(fifo)])] == ["MX-SCAN-010"]


_RACE = """
import os, sys
from modelxray.engine import ScanOptions, scan_file
from modelxray.sources import iter_sources
path = sys.argv[1]
(source,) = iter_sources([path])     # listed as a regular file ...
os.remove(path)
os.mkfifo(path)                      # ... and swapped for a FIFO before it is opened
options = ScanOptions(compute_hash=True)
result = scan_file(source, options)
print([f.rule_id for f in result.findings], result.verdict)
"""


def test_a_fifo_swapped_in_after_listing_is_not_opened(tmp_path: Path) -> None:
    path = _pickle(tmp_path / "model.pkl")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", _RACE, str(path)], capture_output=True, text=True,
        timeout=GUARD, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['MX-SCAN-004'] error"
