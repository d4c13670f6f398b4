"""MX-KERAS: Keras model configs (HDF5, .keras, SavedModel metadata, JSON).

1xx: code that runs while ``load_model`` rebuilds the model.
2xx: references in a config that make the loader import, download, read or switch things.
3xx: HDF5 structure and ``.keras`` archive level.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("keras-h5", "keras-v3", "keras-json", "tf-savedmodel")

FAMILY = RuleFamily("keras", package=__name__, formats=_FORMATS)
LAMBDA_MALICIOUS = FAMILY.rule(
    "MX-KERAS-101",
    "Lambda code reaches process, file, network or import machinery",
    Severity.CRITICAL,
    Confidence.HIGH,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
)
LAMBDA_UNKNOWN = FAMILY.rule(
    "MX-KERAS-102",
    "Lambda code uses names outside tensor math",
    Severity.HIGH,
    Confidence.MEDIUM,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
)
LAMBDA_UNREADABLE = FAMILY.rule(
    "MX-KERAS-103",
    "Lambda code blob could not be decoded",
    Severity.HIGH,
    Confidence.MEDIUM,
    cwes=("CWE-502",),
)
LAMBDA_TENSOR_MATH = FAMILY.rule(
    "MX-KERAS-104",
    "Lambda code runs on load (tensor math only)",
    Severity.LOW,
    Confidence.HIGH,
    cves=("CVE-2024-3660",),
    cwes=("CWE-94",),
)
LAMBDA_EXHAUSTION = FAMILY.rule(
    "MX-KERAS-107",
    "Lambda code drives a huge loop or allocation",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-400", "CWE-770"),
)
FUNCTION_REFERENCE = FAMILY.rule(
    "MX-KERAS-105",
    "Lambda refers to a dangerous module function",
    Severity.CRITICAL,
    Confidence.HIGH,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470", "CWE-94"),
)
FUNCTION_REFERENCE_UNKNOWN = FAMILY.rule(
    "MX-KERAS-106",
    "Lambda refers to a function outside the Keras family",
    Severity.HIGH,
    Confidence.MEDIUM,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
)

# -- 2xx: config references, gadgets and layers that reach outside the model ---------------------
REFERENCE_DANGEROUS = FAMILY.rule(
    "MX-KERAS-201",
    "Config references a dangerous module or builtin",
    Severity.CRITICAL,
    Confidence.HIGH,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470", "CWE-94"),
)
REFERENCE_OUTSIDE = FAMILY.rule(
    "MX-KERAS-202",
    "Config imports an object from outside the Keras family",
    Severity.HIGH,
    Confidence.MEDIUM,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
)
REFERENCE_CUSTOM = FAMILY.rule(
    "MX-KERAS-203",
    "Config depends on a registered custom object",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
)
KERAS_API_GADGET = FAMILY.rule(
    "MX-KERAS-204",
    "Config calls a Keras non-modelling API (download, load, save, safe-mode switch)",
    Severity.CRITICAL,
    Confidence.HIGH,
    cves=("CVE-2025-8747", "CVE-2025-9906"),
    cwes=("CWE-470", "CWE-693"),
)
REFERENCE_BUILTINS_NAME = FAMILY.rule(
    "MX-KERAS-205",
    "Config names a builtins function that is not a Keras function",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
)
ARGUMENT_LOCATION = FAMILY.rule(
    "MX-KERAS-206",
    "Layer call arguments carry a URL or an absolute path",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cves=("CVE-2025-8747",),
    cwes=("CWE-73", "CWE-918"),
)
TORCH_MODULE_WRAPPER = FAMILY.rule(
    "MX-KERAS-207",
    "TorchModuleWrapper unpickles a torch module on load (safe_mode=False)",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2025-49655",),
    cwes=("CWE-502",),
)
TFSM_LAYER = FAMILY.rule(
    "MX-KERAS-208",
    "TFSMLayer loads an external SavedModel",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2026-1462",),
    cwes=("CWE-829", "CWE-73"),
)
VOCABULARY_FILE = FAMILY.rule(
    "MX-KERAS-209",
    "Lookup layer or tokenizer reads its vocabulary from a path or URL",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2025-12058",),
    cwes=("CWE-73", "CWE-918"),
)

# -- 3xx: HDF5 structure and .keras archive level ----------------------------------------------
_H5 = ("keras-h5", "keras-v3", "hdf5")
HDF5_EXTERNAL_LINK = FAMILY.rule(
    "MX-KERAS-301",
    "HDF5 external link points into another file",
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
)
HDF5_SOFT_LINK = FAMILY.rule(
    "MX-KERAS-302",
    "HDF5 soft link dangles or leads out of the file",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73",),
)
HDF5_EXTERNAL_STORAGE = FAMILY.rule(
    "MX-KERAS-303",
    "HDF5 dataset keeps its data in external files",
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
)
HDF5_VIRTUAL_DATASET = FAMILY.rule(
    "MX-KERAS-304",
    "HDF5 virtual dataset maps data from other files",
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
)
HDF5_SHAPE_BOMB = FAMILY.rule(
    "MX-KERAS-305",
    "HDF5 dataset declares an absurd shape (shape bomb)",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-0897",),
    cwes=("CWE-400", "CWE-789"),
)
ARCHIVE_PATH_TRAVERSAL = FAMILY.rule(
    "MX-KERAS-306",
    "Keras asset or member path escapes its directory",
    Severity.HIGH,
    Confidence.HIGH,
    formats=("keras-v3", "keras-json", "keras-h5"),
    cves=("CVE-2026-12479",),
    cwes=("CWE-22",),
)

# What analysis/keras_config.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "lambda-malicious": LAMBDA_MALICIOUS,
    "lambda-unknown": LAMBDA_UNKNOWN,
    "lambda-unreadable": LAMBDA_UNREADABLE,
    "lambda-tensor-math": LAMBDA_TENSOR_MATH,
    "lambda-exhaustion": LAMBDA_EXHAUSTION,
    "function-reference-unknown": FUNCTION_REFERENCE_UNKNOWN,
    "function-reference": FUNCTION_REFERENCE,
    "reference-dangerous": REFERENCE_DANGEROUS,
    "reference-outside": REFERENCE_OUTSIDE,
    "reference-custom": REFERENCE_CUSTOM,
    "keras-api-gadget": KERAS_API_GADGET,
    "reference-builtins-name": REFERENCE_BUILTINS_NAME,
    "argument-location": ARGUMENT_LOCATION,
    "torch-module-wrapper": TORCH_MODULE_WRAPPER,
    "tfsm-layer": TFSM_LAYER,
    "vocabulary-file": VOCABULARY_FILE,
    "archive-path-traversal": ARCHIVE_PATH_TRAVERSAL,
}
