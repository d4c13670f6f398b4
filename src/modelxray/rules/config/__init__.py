"""MX-CONFIG: YAML/OmegaConf/Hydra configs that name code the loading framework runs.

Hydra's ``instantiate`` (and NeMo, which restores every ``.nemo`` archive through it) imports
and calls whatever a config's ``_target_`` names; YAML's Python tags make unsafe loaders do the
same; OmegaConf resolvers call functions a program registered.  The names are judged against the
one threat catalogue (``analysis/threats.py``) and the pickle allow-list, so a callable gets the
same verdict here as a pickle global naming it.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("yaml-config", "json")

FAMILY = RuleFamily("config", package=__name__, formats=_FORMATS)
DANGEROUS_TARGET = FAMILY.rule(
    "MX-CONFIG-001",
    "Config instantiates a dangerous callable (_target_)",
    Severity.CRITICAL,
    Confidence.HIGH,
    cwes=("CWE-94", "CWE-470"),
)
UNKNOWN_TARGET = FAMILY.rule(
    "MX-CONFIG-002",
    "Config instantiates a callable outside the allow-list (_target_)",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-470",),
)
COMPUTED_TARGET = FAMILY.rule(
    "MX-CONFIG-003",
    "Config's _target_ is computed when the config is resolved",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-470",),
)
PYTHON_TAG = FAMILY.rule(
    "MX-CONFIG-004",
    "YAML Python tag makes unsafe loaders import or call code",
    Severity.CRITICAL,
    Confidence.HIGH,
    cwes=("CWE-502", "CWE-94"),
)
RESOLVER = FAMILY.rule(
    "MX-CONFIG-005",
    "OmegaConf interpolation calls a resolver",
    Severity.LOW,
    Confidence.MEDIUM,
    cwes=("CWE-94", "CWE-526"),
)

# What analysis/yaml_config.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "dangerous-target": DANGEROUS_TARGET,
    "unknown-target": UNKNOWN_TARGET,
    "computed-target": COMPUTED_TARGET,
    "python-tag": PYTHON_TAG,
    "resolver": RESOLVER,
}
