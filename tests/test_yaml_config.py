"""YAML/OmegaConf/Hydra configs: `_target_`, Python tags, resolvers, overrides (MX-CONFIG-*).

Clean configs are written by the real libraries (OmegaConf.save, a real Hydra run, PyYAML's own
dumper, a `.nemo`-style tar made with tarfile and torch.save); the benign look-alikes reproduce
published configs of real projects (NeMo's Conformer-CTC config, lightning-hydra-template).
Malicious variants are hand-written with harmless payloads (`echo` into a marker file); nothing
here instantiates, resolves or unsafe-loads a scanned config, and every test that scans one
asserts the marker never appears.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import modelxray
from modelxray.budget import Budget, Limits
from modelxray.formats.yaml_doc import parse_yaml
from modelxray.model import Severity

omegaconf = pytest.importorskip("omegaconf")
OmegaConf = omegaconf.OmegaConf

MARKER = Path("/tmp/modelxray_marker_yaml_config")
CMD = f"echo MODELXRAY_MARKER > {MARKER}"
BLOCKING = (Severity.HIGH, Severity.CRITICAL)

# NeMo's published Conformer-CTC (BPE) config, reduced: examples/asr/conf/conformer/
# conformer_ctc_bpe.yaml as ModelPT.save_to writes it into model_config.yaml.
NEMO_CONFIG = {
    "sample_rate": 16000,
    "log_prediction": True,
    "ctc_reduction": "mean_batch",
    "train_ds": {
        "manifest_filepath": None,
        "sample_rate": "${model.sample_rate}",
        "batch_size": 16,
        "shuffle": True,
        "num_workers": 8,
        "max_duration": 16.7,
    },
    "tokenizer": {"dir": None, "type": "bpe"},
    "preprocessor": {
        "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
        "sample_rate": "${model.sample_rate}",
        "normalize": "per_feature",
        "window_size": 0.025,
        "window_stride": 0.01,
        "window": "hann",
        "features": 80,
        "n_fft": 512,
    },
    "spec_augment": {
        "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
        "freq_masks": 2,
        "time_masks": 10,
    },
    "encoder": {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder",
        "feat_in": "${model.preprocessor.features}",
        "n_layers": 18,
        "d_model": 256,
        "subsampling": "striding",
        "self_attention_model": "rel_pos",
        "n_heads": 4,
    },
    "decoder": {
        "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
        "feat_in": None,
        "num_classes": -1,
        "vocabulary": [],
    },
    "optim": {
        "name": "adamw",
        "lr": 2.0,
        "betas": [0.9, 0.98],
        "weight_decay": 0.001,
        "sched": {"name": "NoamAnnealing", "d_model": "${model.encoder.d_model}"},
    },
    "target": "nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE",
    "nemo_version": "1.23.0",
}

# lightning-hydra-template: configs/model/mnist.yaml, configs/callbacks/model_checkpoint.yaml,
# configs/paths/default.yaml (reduced).
LIGHTNING_HYDRA_MODEL = """\
_target_: src.models.mnist_module.MNISTLitModule

optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 0.001
  weight_decay: 0.0

scheduler:
  _target_: torch.optim.lr_scheduler.ReduceLROnPlateau
  _partial_: true
  mode: min
  factor: 0.1
  patience: 10

net:
  _target_: src.models.components.simple_dense_net.SimpleDenseNet
  input_size: 784
  lin1_size: 64
  output_size: 10

# compile model for faster training with pytorch 2.0
compile: false
"""
LIGHTNING_HYDRA_PATHS = """\
# path to root directory
# this requires PROJECT_ROOT environment variable to exist
root_dir: ${oc.env:PROJECT_ROOT}
data_dir: ${paths.root_dir}/data/
log_dir: ${paths.root_dir}/logs/
output_dir: ${hydra:runtime.output_dir}
work_dir: ${hydra:runtime.cwd}
"""
LIGHTNING_HYDRA_CALLBACK = """\
model_checkpoint:
  _target_: lightning.pytorch.callbacks.ModelCheckpoint
  dirpath: ${paths.output_dir}/checkpoints
  filename: "epoch_{epoch:03d}"
  monitor: "val/acc"
  mode: "max"
  save_last: True
"""
# SAM 2 (facebookresearch/sam2, PyPI sam2 1.1.0): sam2/configs/sam2.1/sam2.1_hiera_t.yaml and a
# line of sam2.1_training/sam2.1_hiera_b+_MOSE_finetune.yaml (reduced).
SAM2_CONFIG = """\
# @package _global_

# Model
model:
  _target_: sam2.modeling.sam2_base.SAM2Base
  image_encoder:
    _target_: sam2.modeling.backbones.image_encoder.ImageEncoder
    scalp: 1
    trunk:
      _target_: sam2.modeling.backbones.hieradet.Hiera
      embed_dim: 96
      num_heads: 1
      stages: [1, 2, 7, 2]
      global_att_blocks: [5, 7, 9]
      window_pos_embed_bkg_spatial_size: [7, 7]
    neck:
      _target_: sam2.modeling.backbones.image_encoder.FpnNeck
      position_encoding:
        _target_: sam2.modeling.position_encoding.PositionEmbeddingSine
        num_pos_feats: 256
        normalize: true
        scale: null
        temperature: 10000
      d_model: 256
      backbone_channel_list: [768, 384, 192, 96]
      fpn_top_down_levels: [2, 3]  # output level 0 and 1 directly use the backbone features
      fpn_interp_model: nearest
trainer:
  max_epochs: ${times:${scratch.num_epochs},${scratch.phases_per_epoch}}
"""
# Files that are YAML but no model config: never claimed.
GITHUB_WORKFLOW = """\
name: Tests
on: [push, pull_request]
jobs:
  test:
    runs-on: ${{ matrix.os }}
    steps:
      - uses: actions/checkout@v4
      - run: pip install -e .[test] && pytest
"""
COMPOSE = """\
services:
  server:
    image: ghcr.io/example/server:${TAG:-latest}
    environment:
      - TOKEN=${TOKEN:?set TOKEN}
    build:
      target: builder
"""


def _scan(*paths: Path) -> modelxray.ScanReport:
    report = modelxray.scan([str(p) for p in paths])
    assert not MARKER.exists()
    return report


def _targets(report: modelxray.ScanReport, rule: str) -> set[str]:
    return {f.evidence.get("target", "") for f in report.findings if f.rule_id == rule}


@pytest.fixture(autouse=True)
def _no_marker() -> None:
    MARKER.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def nemo_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nemo") / "model_config.yaml"
    OmegaConf.save(OmegaConf.create(NEMO_CONFIG), path)
    return path


def _nemo_archive(folder: Path, config_text: str, gz: bool) -> Path:
    """A .nemo as NeMo's save_to writes it: a tar (gzipped by default) of the config and the
    weights (torch.save of a state dict)."""
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2)}, buf)
    path = folder / ("model.nemo")
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in (
            ("./model_config.yaml", config_text.encode()),
            ("./model_weights.ckpt", buf.getvalue()),
            ("./tokenizer.model", b"\x0a\x04test"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# -- clean configs made by the libraries --------------------------------------------------------


def test_nemo_model_config_is_read_and_not_blocked(nemo_yaml: Path) -> None:
    report = _scan(nemo_yaml)
    assert report.files[0].formats == ["yaml-config"]
    assert not [f for f in report.findings if f.severity in BLOCKING]
    assert _targets(report, "MX-CONFIG-002") == {
        "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
        "nemo.collections.asr.modules.SpectrogramAugmentation",
        "nemo.collections.asr.modules.ConformerEncoder",
        "nemo.collections.asr.modules.ConvASRDecoder",
    }
    assert report.verdict == "allowed"


@pytest.mark.parametrize("gz", [True, False], ids=["tar.gz", "tar"])
def test_nemo_archive_member_reaches_the_reader(tmp_path: Path, nemo_yaml: Path, gz: bool) -> None:
    clean = _nemo_archive(tmp_path, nemo_yaml.read_text(), gz)
    report = _scan(clean)
    assert report.verdict == "allowed"
    rules = {f.rule_id for f in report.findings}
    assert "MX-CONFIG-002" in rules
    assert any("model_config.yaml" in str(f.location) for f in report.findings)

    evil = OmegaConf.create(NEMO_CONFIG)
    evil.encoder = {"_target_": "subprocess.run", "args": [CMD], "shell": True}
    evil_text = OmegaConf.to_yaml(evil)
    (tmp_path / "evil").mkdir()
    report = _scan(_nemo_archive(tmp_path / "evil", evil_text, gz))
    (hit,) = [f for f in report.findings if f.rule_id == "MX-CONFIG-001"]
    assert hit.severity == Severity.CRITICAL and hit.evidence["target"] == "subprocess.run"
    assert hit.location.inner[-2:] == ("encoder", "_target_")
    assert "model_config.yaml" in str(hit.location)
    assert report.verdict == "blocked"


def test_real_hydra_run_directory(tmp_path: Path) -> None:
    pytest.importorskip("hydra")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text(
        "defaults:\n  - _self_\nmodel:\n  _target_: torch.nn.Linear\n  in_features: 4\n"
        "  out_features: 2\ntrainer:\n  max_epochs: 3\n"
    )
    app = tmp_path / "app.py"
    app.write_text(
        "import hydra\n"
        "@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
        "def main(cfg):\n    pass\n"
        "main()\n"
    )
    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, str(app), f"hydra.run.dir={run}", "trainer.max_epochs=5"],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    hydra_dir = run / ".hydra"
    report = _scan(hydra_dir, conf)
    assert report.verdict == "allowed"
    by_file = {Path(f.path).name: f for f in report.files}
    assert by_file["config.yaml"].formats == ["yaml-config"]
    assert by_file["hydra.yaml"].formats == ["yaml-config"]
    # torch.nn.Linear is torch.nn.modules.linear.Linear, on the allow-list: nothing reported
    assert not [f for f in report.findings if f.evidence.get("target") == "torch.nn.Linear"]
    # Hydra's own launcher/sweeper classes are not on the allow-list: medium, not blocked
    assert {f.rule_id for f in report.findings} <= {"MX-CONFIG-002"}


def test_published_lightning_hydra_configs_stay_clean(tmp_path: Path) -> None:
    files = []
    for name, text in (
        ("mnist.yaml", LIGHTNING_HYDRA_MODEL),
        ("default.yaml", LIGHTNING_HYDRA_PATHS),
        ("model_checkpoint.yaml", LIGHTNING_HYDRA_CALLBACK),
    ):
        p = tmp_path / name
        p.write_text(text)
        files.append(p)
    report = _scan(*files)
    assert report.verdict == "allowed"
    assert not [f for f in report.findings if f.severity in BLOCKING]
    env = [f for f in report.findings if f.rule_id == "MX-CONFIG-005"]
    assert [(f.severity, f.evidence["variable"]) for f in env] == [(Severity.INFO, "PROJECT_ROOT")]
    assert "torch.optim.Adam" in _targets(report, "MX-CONFIG-002")


def test_pyyaml_python_data_tags_and_allowed_objects_are_not_findings(tmp_path: Path) -> None:
    import argparse

    yaml = pytest.importorskip("yaml")
    # PyYAML's own dumper: !!python/object:argparse.Namespace, !!python/tuple (hparams files)
    text = yaml.dump({"args": argparse.Namespace(lr=0.1), "shape": (1, 2), "_target_": "x.Y"})
    assert "!!python/object:argparse.Namespace" in text and "!!python/tuple" in text
    p = tmp_path / "hparams.yaml"
    p.write_text(text)
    report = _scan(p)
    assert report.files[0].formats == ["yaml-config"]
    assert {f.rule_id for f in report.findings} == {"MX-CONFIG-002"}


# -- malicious variants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule", "target"),
    [
        (f"model:\n  _target_: os.system\n  _args_: ['{CMD}']\n", "MX-CONFIG-001", "os.system"),
        (
            f"cb:\n  _target_: subprocess.Popen\n  _partial_: true\n  args: '{CMD}'\n",
            "MX-CONFIG-001",
            "subprocess.Popen",
        ),
        (
            "a:\n  _target_: ${b.c}\nb:\n  c: builtins.exec\n",
            "MX-CONFIG-001",
            "builtins.exec",
        ),
        (
            "m:\n  _target_: hydra.utils.get_method\n  path: os.system\n",
            "MX-CONFIG-001",
            "hydra.utils.get_method",
        ),
        (f"x: !!python/object/apply:os.system ['{CMD}']\n", "MX-CONFIG-004", "os.system"),
        (f"--- !!python/object/new:subprocess.Popen\nargs: ['{CMD}']\n", "MX-CONFIG-004",
         "subprocess.Popen"),
        ("f: !!python/name:eval\n", "MX-CONFIG-004", "eval"),
        ("m: !!python/module:os\n", "MX-CONFIG-004", "os"),
        ("- model._target_=os.system\n- trainer.max_epochs=3\n", "MX-CONFIG-001", "os.system"),
        ("- '+cb={_target_: posix.system}'\n", "MX-CONFIG-001", "posix.system"),
        ("{model: {_target_: os.system, _args_: [echo]}}\n", "MX-CONFIG-001", "os.system"),
        ("[{_target_: subprocess.call}]\n", "MX-CONFIG-001", "subprocess.call"),
        ("target: nemo.x.Model\nsub:\n  cls: subprocess.call\n", "MX-CONFIG-001",
         "subprocess.call"),
    ],
)  # fmt: skip
def test_malicious_configs_are_critical(tmp_path: Path, text: str, rule: str, target: str) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    report = _scan(p)
    assert report.files[0].formats == ["yaml-config"]
    hits = [f for f in report.findings if f.rule_id == rule]
    assert [f.evidence["target"] for f in hits] == [target]
    assert hits[0].severity == Severity.CRITICAL
    assert report.verdict == "blocked"


def test_same_verdict_as_a_pickle_global() -> None:
    from modelxray.analysis.pickle.globals_policy import DEFAULT_POLICY
    from modelxray.analysis.yaml_config import classify_target

    for path in ("subprocess.run", "os.system", "builtins.eval", "torch.hub.load", "x.y.Z"):
        assert classify_target(path)[0] == DEFAULT_POLICY.classify_path(path).category
    # a public alias is judged as the object it names, which pickles name by its definition
    assert classify_target("torch.nn.Linear")[0] == "allowed"
    assert DEFAULT_POLICY.classify("torch.nn.modules.linear", "Linear").category == "allowed"


def test_resolvers(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(
        "model:\n  _target_: torch.nn.Linear\n"
        '  in_features: ${eval:\'__import__("os").system("' + CMD + "\")'}\n"
        "  out_features: ${mul:2,3}\n"
        "  home: ${oc.env:HOME}\n"
        "  size: ${oc.select:model.x,4}\n"
        "  escaped: \\${eval:ignored}\n"
    )
    report = _scan(p)
    got = sorted((f.evidence["resolver"], f.severity.name.lower()) for f in report.findings)
    assert got == [("eval", "critical"), ("mul", "low"), ("oc.env", "info")]
    assert report.verdict == "blocked"


def test_computed_target(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("model:\n  _target_: ${oc.env:MODEL_CLASS}\n")
    report = _scan(p)
    assert {f.rule_id for f in report.findings} >= {"MX-CONFIG-003"}


def test_json_config_with_target_is_judged(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model": {"_target_": "subprocess.run", "args": [CMD]}}))
    report = _scan(p)
    assert _targets(report, "MX-CONFIG-001") == {"subprocess.run"}


# -- what is not claimed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("ci.yml", GITHUB_WORKFLOW),
        ("docker-compose.yml", COMPOSE),
        ("notes.txt", "Set _target_: to the class.\nThen run it.\n"),
        ("README.md", "# Config\n\n```yaml\n_target_: os.system\n```\n"),
    ],
)
def test_other_yaml_and_text_is_not_claimed(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    report = _scan(p)
    assert "yaml-config" not in report.files[0].formats
    assert not report.findings


def test_python_and_mlmodel_keep_their_readers(tmp_path: Path) -> None:
    py = tmp_path / "conf.py"
    py.write_text('"""Config.\n\n_target_: os.system\n"""\nimport os\nos.system("x")\n')
    mlmodel = tmp_path / "MLmodel"
    mlmodel.write_text("flavors:\n  onnx:\n    data: model.onnx\n_target_: x.Y\n")
    report = _scan(py, mlmodel)
    formats = {Path(f.path).name: f.formats for f in report.files}
    assert formats == {"conf.py": ["python"], "MLmodel": ["mlflow-mlmodel"]}


# -- bounds -----------------------------------------------------------------------------------


def test_alias_bomb_is_walked_once(tmp_path: Path) -> None:
    lines = ["a0: &a0 {_target_: os.system, x: [1, 2, 3, 4, 5, 6, 7, 8, 9]}"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 30)]
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    report = _scan(p)
    (hit,) = [f for f in report.findings if f.rule_id == "MX-CONFIG-001"]
    assert hit.location.inner == ("a0", "_target_")


def test_deep_nesting_is_a_limit_finding(tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("_target_: x.Y\nv: " + "[" * 50_000 + "]" * 50_000 + "\n")
    report = _scan(p)
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-002"]
    assert report.verdict == "error"


def test_interpolation_cycle_terminates() -> None:
    from modelxray.analysis.yaml_config import judge_config

    limits = Limits()
    docs = parse_yaml("a:\n  _target_: ${b}\nb: ${a._target_}\n", Budget(limits), limits)
    (judgement,) = judge_config(docs, Budget(limits))
    assert judgement.kind == "computed-target"


def test_text_no_yaml_loader_accepts_is_not_claimed(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("model:\n  _target_: os.system\n  a: [1, 2\n")
    report = _scan(p)
    assert report.files[0].formats == [] and not report.findings


def test_large_malformed_yaml_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file too large to parse when sniffed is claimed on its head; failing to decode it
    then is a finding (the sniff limit is lowered to keep the test small)."""
    monkeypatch.setattr("modelxray.formats.yaml_config.SNIFF_BYTES", 8192)
    p = tmp_path / "config.yaml"
    filler = "".join(f"k{i}: {i}\n" for i in range(2000))
    p.write_text("model:\n  _target_: x.Y\n" + filler + "bad: [1, 2\n")
    report = _scan(p)
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-001"]
    assert report.verdict == "error"


def test_decoder_builds_no_objects() -> None:
    limits = Limits()
    started = time.monotonic()
    (doc,) = parse_yaml(f"x: !!python/object/apply:os.system ['{CMD}']\n", Budget(limits), limits)
    assert time.monotonic() >= started  # parsing returned; nothing ran
    node = doc.get("x")
    assert node is not None and node.tag == "tag:yaml.org,2002:python/object/apply:os.system"
    assert [i.value for i in node.items] == [CMD]
    assert not MARKER.exists()


# -- the committed fixtures (tests/data/yaml_config/make_yaml_fixtures.py) -----------------------


def test_committed_fixtures() -> None:
    from tests.conftest import data_path

    root = data_path("yaml_config")
    report = _scan(root)
    verdicts = {
        Path(f.path).relative_to(root).as_posix(): str(f.verdict)
        for f in report.files
        if not f.path.endswith(".py")
    }
    malicious = {k for k in verdicts if k.startswith("malicious/")}
    assert len(malicious) == 5
    assert {k: v for k, v in verdicts.items() if v != "allowed"} == dict.fromkeys(
        malicious, "blocked"
    )
    formats = {Path(f.path).name: f.formats for f in report.files}
    assert formats["model_config.yaml"] == ["yaml-config"]
    assert formats["hydra.yaml"] == ["yaml-config"]


def test_yaml_that_is_also_python_is_judged_as_both(tmp_path: Path) -> None:
    p = tmp_path / "settings.yaml"
    p.write_text(f"x: int = __import__('os').system('{CMD}')\n_target_: torch.nn.Linear\n")
    report = _scan(p)
    assert report.files[0].formats == ["yaml-config"]
    assert "MX-REPO-103" in {f.rule_id for f in report.findings}
    assert report.verdict == "blocked"


def test_published_sam2_config(tmp_path: Path) -> None:
    p = tmp_path / "sam2.1_hiera_t.yaml"
    p.write_text(SAM2_CONFIG)
    report = _scan(p)
    assert report.files[0].formats == ["yaml-config"] and report.verdict == "allowed"
    assert {(f.rule_id, f.severity) for f in report.findings} == {
        ("MX-CONFIG-002", Severity.MEDIUM),
        ("MX-CONFIG-005", Severity.LOW),  # the training config's custom ${times:...}
    }
    assert len(_targets(report, "MX-CONFIG-002")) == 5


def test_scan_policy_pickle_globals_apply_to_targets(tmp_path: Path) -> None:
    from modelxray import ScanOptions
    from modelxray.policy import AllowEntry, Policy

    p = tmp_path / "config.yaml"
    p.write_text("model:\n  _target_: my_company.models.Net\nx: {_target_: my_company.X}\n")
    assert _targets(_scan(p), "MX-CONFIG-002") == {"my_company.models.Net", "my_company.X"}
    policy = Policy(
        allow_pickle_globals=(AllowEntry("my_company.models.Net", "ours"),),
        deny_pickle_globals=(AllowEntry("my_company.X", "no"),),
    )
    report = modelxray.scan([str(p)], ScanOptions(policy=policy))
    assert [(f.rule_id, f.evidence["target"]) for f in report.findings] == [
        ("MX-CONFIG-001", "my_company.X")
    ]
    # what the allow entry cleared is reported as accepted by the policy, with its reason
    (accepted,) = report.files[0].suppressed
    assert accepted.evidence["target"] == "my_company.models.Net"
    assert accepted.evidence["suppressed_because"] == (
        "allow.pickle_globals my_company.models.Net: ours"
    )


def test_a_target_in_a_conda_environment_file_is_judged_too(tmp_path: Path) -> None:
    """Hydra loads any YAML file it is pointed at: a ``_target_`` beside ``dependencies:``
    is judged although the environment-file reader claims the file."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "model:\n  _target_: subprocess.run\n  args: [echo, hi]\n"
    )
    report = modelxray.scan(str(path))
    (result,) = report.files
    assert "conda-env" in result.formats
    assert [
        (f.rule_id, f.severity) for f in result.findings if f.rule_id.startswith("MX-CONFIG")
    ] == [("MX-CONFIG-001", Severity.CRITICAL)]
    assert result.verdict == "blocked"
