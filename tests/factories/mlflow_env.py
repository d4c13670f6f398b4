"""MLflow model environment files, written exactly as MLflow writes them (mlflow-skinny is not
installed for the tests: its dependency tree is large).

Reproduced from mlflow 3.18.0 ``mlflow/utils/environment.py``: ``_mlflow_conda_env`` (the
``_conda_header`` loaded with ``yaml.safe_load``, ``python=<version>``, ``pip<=<version>``, a
``{"pip": [...]}`` entry, ``yaml.safe_dump(env, default_flow_style=False)``),
``_PythonEnv.to_yaml`` (``yaml.safe_dump(data, sort_keys=False, default_flow_style=False)`` of
``python``, ``build_dependencies``, ``dependencies: ["-r requirements.txt"]``) and
``_mlflow_additional_pip_env`` (``"\\n".join(pip_deps)``, no trailing newline).  The MLmodel
beside them comes from ``tests/test_skops_mlflow_xgb.PYFUNC_MLMODEL``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

_CONDA_HEADER = """\
name: mlflow-env
channels:
  - conda-forge
"""
PYTHON_VERSION = "3.10.12"
BUILD = {"pip": "23.2.1", "setuptools": "68.2.2", "wheel": "0.41.3"}
MLFLOW_VERSION = "2.9.2"


def conda_env(pip_deps: list[str], channels: list[str] | None = None) -> str:
    env = yaml.safe_load(_CONDA_HEADER)
    env["dependencies"] = [f"python={PYTHON_VERSION}"]
    env["dependencies"] += [f"pip<={BUILD['pip']}"]
    env["dependencies"].append({"pip": pip_deps})
    if channels is not None:
        env["channels"] += channels
    return str(yaml.safe_dump(env, default_flow_style=False))


def python_env(dependencies: list[str] | None = None) -> str:
    data = {
        "python": PYTHON_VERSION,
        "build_dependencies": [f"{k}=={v}" for k, v in BUILD.items()],
        "dependencies": dependencies or ["-r requirements.txt"],
    }
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def requirements(pip_deps: list[str]) -> str:
    return "\n".join(pip_deps)


def model_dir(folder: Path, pip_deps: list[str] | None = None) -> Path:
    """An MLflow pyfunc model folder: MLmodel, conda.yaml, python_env.yaml, requirements.txt."""
    from tests.test_skops_mlflow_xgb import PYFUNC_MLMODEL

    deps = [f"mlflow=={MLFLOW_VERSION}", "cloudpickle==2.2.1", "scikit-learn==1.3.2"]
    deps = pip_deps if pip_deps is not None else deps
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text(PYFUNC_MLMODEL)
    (folder / "conda.yaml").write_text(conda_env(deps))
    (folder / "python_env.yaml").write_text(python_env())
    (folder / "requirements.txt").write_text(requirements(deps))
    return folder
