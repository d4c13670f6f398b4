"""The rule catalogue: every rule of every family, looked up by ID.

Each family is a package under ``modelxray.rules`` whose ``__init__`` declares
its :class:`Rule` objects and whose ``<ID>.md`` files are the rule pages.
"""

from __future__ import annotations

from modelxray.rules import archive, flax, keras, mlflow, repo, scan, skops, tflite
from modelxray.rules import gguf as gguf_rules
from modelxray.rules import numpy as numpy_rules
from modelxray.rules import onnx as onnx_rules
from modelxray.rules import pickle as pickle_rules
from modelxray.rules import safetensors as safetensors_rules
from modelxray.rules import template as template_rules
from modelxray.rules import tf as tf_rules
from modelxray.rules import torch as torch_rules
from modelxray.rules.base import Rule

_FAMILIES = (
    scan,
    keras,
    repo,
    tflite,
    flax,
    skops,
    mlflow,
    archive,
    tf_rules,
    safetensors_rules,
    gguf_rules,
    onnx_rules,
    template_rules,
    pickle_rules,
    torch_rules,
    numpy_rules,
)

ALL_RULES: dict[str, Rule] = {}
for _family in _FAMILIES:
    for _rule in _family.RULES:
        if _rule.id in ALL_RULES:  # pragma: no cover - guarded by tests
            raise RuntimeError(f"duplicate rule id {_rule.id}")
        ALL_RULES[_rule.id] = _rule


def get_rule(rule_id: str) -> Rule:
    try:
        return ALL_RULES[rule_id.strip().upper()]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; `modelxray rules` lists them") from None


__all__ = ["ALL_RULES", "Rule", "get_rule"]
