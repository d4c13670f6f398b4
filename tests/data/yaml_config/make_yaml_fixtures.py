"""Write the committed YAML-config fixtures in this folder (tests/test_yaml_config.py reads them).

* ``nemo/model_config.yaml``: NeMo's published Conformer-CTC config (reduced), written by
  ``OmegaConf.save`` as ``ModelPT.save_to`` does.
* ``hydra_run/.hydra/{config,hydra,overrides}.yaml``: what a real Hydra 1.3 run writes (a tiny
  ``@hydra.main`` app with a ``torch.nn.Linear`` target and one command-line override).
* ``lightning_hydra/*.yaml``: lightning-hydra-template's published configs (reduced).
* ``sam2/sam2.1_hiera_t.yaml``: SAM 2's published Hydra config (PyPI sam2 1.1.0, reduced).
* ``malicious/*.yaml``: hand-written attacks whose payload only echoes into a marker file; never
  loaded, resolved or instantiated by anything here.

Usage: ``PYTHONPATH=. python tests/data/yaml_config/make_yaml_fixtures.py`` (needs omegaconf and
hydra-core).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf
from tests.test_yaml_config import (
    CMD,
    LIGHTNING_HYDRA_CALLBACK,
    LIGHTNING_HYDRA_MODEL,
    LIGHTNING_HYDRA_PATHS,
    NEMO_CONFIG,
    SAM2_CONFIG,
)

HERE = Path(__file__).resolve().parent

MALICIOUS = {
    "target_subprocess.yaml": f"model:\n  _target_: subprocess.run\n  args: ['{CMD}']\n"
    "  shell: true\n",
    "partial_os_system.yaml": f"callback:\n  _target_: os.system\n  _partial_: true\n"
    f"  _args_: ['{CMD}']\n",
    "python_tag_apply.yaml": f"params: !!python/object/apply:os.system ['{CMD}']\n",
    "resolver_eval.yaml": 'trainer:\n  max_steps: ${eval:\'__import__("os").system("'
    + CMD
    + "\")'}\n",
    "overrides.yaml": "- model._target_=posix.system\n- trainer.max_epochs=3\n",
}


def main() -> None:
    nemo = HERE / "nemo"
    nemo.mkdir(exist_ok=True)
    OmegaConf.save(OmegaConf.create(NEMO_CONFIG), nemo / "model_config.yaml")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "conf").mkdir()
        (work / "conf" / "config.yaml").write_text(
            "defaults:\n  - _self_\nmodel:\n  _target_: torch.nn.Linear\n  in_features: 4\n"
            "  out_features: 2\ntrainer:\n  max_epochs: 3\n"
        )
        (work / "app.py").write_text(
            "import hydra\n"
            "@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
            "def main(cfg):\n    pass\n"
            "main()\n"
        )
        run = work / "run"
        subprocess.run(
            [sys.executable, "app.py", f"hydra.run.dir={run}", "trainer.max_epochs=5"],
            check=True,
            cwd=work,
        )
        out = HERE / "hydra_run" / ".hydra"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            text = (run / ".hydra" / name).read_text()
            text = text.replace(str(run), "/runs/example").replace(str(work), "/work/example")
            (out / name).write_text(text)

    lightning = HERE / "lightning_hydra"
    lightning.mkdir(exist_ok=True)
    for name, text in (
        ("mnist.yaml", LIGHTNING_HYDRA_MODEL),
        ("paths_default.yaml", LIGHTNING_HYDRA_PATHS),
        ("model_checkpoint.yaml", LIGHTNING_HYDRA_CALLBACK),
    ):
        (lightning / name).write_text(text)

    sam2 = HERE / "sam2"
    sam2.mkdir(exist_ok=True)
    (sam2 / "sam2.1_hiera_t.yaml").write_text(SAM2_CONFIG)

    malicious = HERE / "malicious"
    malicious.mkdir(exist_ok=True)
    for name, text in MALICIOUS.items():
        (malicious / name).write_text(text)


if __name__ == "__main__":
    main()
