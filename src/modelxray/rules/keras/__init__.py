"""MX-KERAS: Keras model configs (HDF5, .keras, SavedModel metadata, JSON).

1xx: code that runs while ``load_model`` rebuilds the model.
2xx: references in a config that make the loader import, download, read or switch things.
3xx: HDF5 structure and ``.keras`` archive level.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "keras"
_FORMATS = ("keras-h5", "keras-v3", "keras-json", "tf-savedmodel")

LAMBDA_MALICIOUS = Rule(
    "MX-KERAS-101",
    "Lambda code reaches process, file, network or import machinery",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
    package=__name__,
)
LAMBDA_UNKNOWN = Rule(
    "MX-KERAS-102",
    "Lambda code uses names outside tensor math",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
    package=__name__,
)
LAMBDA_UNREADABLE = Rule(
    "MX-KERAS-103",
    "Lambda code blob could not be decoded",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-502",),
    package=__name__,
)
LAMBDA_TENSOR_MATH = Rule(
    "MX-KERAS-104",
    "Lambda code runs on load (tensor math only)",
    FAMILY,
    Severity.LOW,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-94",),
    package=__name__,
)
LAMBDA_EXHAUSTION = Rule(
    "MX-KERAS-107",
    "Lambda code drives a huge loop or allocation",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-400", "CWE-770"),
    package=__name__,
)
FUNCTION_REFERENCE = Rule(
    "MX-KERAS-105",
    "Lambda refers to a dangerous module function",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470", "CWE-94"),
    package=__name__,
)
FUNCTION_REFERENCE_UNKNOWN = Rule(
    "MX-KERAS-106",
    "Lambda refers to a function outside the Keras family",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
    package=__name__,
)

# -- 2xx: config references, gadgets and layers that reach outside the model ---------------------
REFERENCE_DANGEROUS = Rule(
    "MX-KERAS-201",
    "Config references a dangerous module or builtin",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470", "CWE-94"),
    package=__name__,
)
REFERENCE_OUTSIDE = Rule(
    "MX-KERAS-202",
    "Config imports an object from outside the Keras family",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
    package=__name__,
)
REFERENCE_CUSTOM = Rule(
    "MX-KERAS-203",
    "Config depends on a registered custom object",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
    package=__name__,
)
KERAS_API_GADGET = Rule(
    "MX-KERAS-204",
    "Config calls a Keras non-modelling API (download, load, save, safe-mode switch)",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-8747", "CVE-2025-9906"),
    cwes=("CWE-470", "CWE-693"),
    package=__name__,
)
REFERENCE_BUILTINS_NAME = Rule(
    "MX-KERAS-205",
    "Config names a builtins function that is not a Keras function",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2025-1550",),
    cwes=("CWE-470",),
    package=__name__,
)
ARGUMENT_LOCATION = Rule(
    "MX-KERAS-206",
    "Layer call arguments carry a URL or an absolute path",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2025-8747",),
    cwes=("CWE-73", "CWE-918"),
    package=__name__,
)
TORCH_MODULE_WRAPPER = Rule(
    "MX-KERAS-207",
    "TorchModuleWrapper unpickles a torch module on load (safe_mode=False)",
    FAMILY,
    Severity.HIGH,  # per finding: the nested pickle's verdict; HIGH when it cannot be judged
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-49655",),
    cwes=("CWE-502",),
    package=__name__,
)
TFSM_LAYER = Rule(
    "MX-KERAS-208",
    "TFSMLayer loads an external SavedModel",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2026-1462",),
    cwes=("CWE-829", "CWE-73"),
    package=__name__,
)
VOCABULARY_FILE = Rule(
    "MX-KERAS-209",
    "Lookup layer or tokenizer reads its vocabulary from a path or URL",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-12058",),
    cwes=("CWE-73", "CWE-918"),
    package=__name__,
)

# -- 3xx: HDF5 structure and .keras archive level ----------------------------------------------
_H5 = ("keras-h5", "keras-v3", "hdf5")
HDF5_EXTERNAL_LINK = Rule(
    "MX-KERAS-301",
    "HDF5 external link points into another file",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
    package=__name__,
)
HDF5_SOFT_LINK = Rule(
    "MX-KERAS-302",
    "HDF5 soft link dangles or leads out of the file",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73",),
    package=__name__,
)
HDF5_EXTERNAL_STORAGE = Rule(
    "MX-KERAS-303",
    "HDF5 dataset keeps its data in external files",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
    package=__name__,
)
HDF5_VIRTUAL_DATASET = Rule(
    "MX-KERAS-304",
    "HDF5 virtual dataset maps data from other files",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-1669",),
    cwes=("CWE-73", "CWE-200"),
    package=__name__,
)
HDF5_SHAPE_BOMB = Rule(
    "MX-KERAS-305",
    "HDF5 dataset declares an absurd shape (shape bomb)",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_H5,
    cves=("CVE-2026-0897",),
    cwes=("CWE-400", "CWE-789"),
    package=__name__,
)
ARCHIVE_PATH_TRAVERSAL = Rule(
    "MX-KERAS-306",
    "Keras asset or member path escapes its directory",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=("keras-v3", "keras-json", "keras-h5"),
    cves=("CVE-2026-12479",),
    cwes=("CWE-22",),
    package=__name__,
)

RULES = (
    LAMBDA_MALICIOUS,
    LAMBDA_UNKNOWN,
    LAMBDA_UNREADABLE,
    LAMBDA_TENSOR_MATH,
    LAMBDA_EXHAUSTION,
    FUNCTION_REFERENCE,
    FUNCTION_REFERENCE_UNKNOWN,
    REFERENCE_DANGEROUS,
    REFERENCE_OUTSIDE,
    REFERENCE_CUSTOM,
    KERAS_API_GADGET,
    REFERENCE_BUILTINS_NAME,
    ARGUMENT_LOCATION,
    TORCH_MODULE_WRAPPER,
    TFSM_LAYER,
    VOCABULARY_FILE,
    HDF5_EXTERNAL_LINK,
    HDF5_SOFT_LINK,
    HDF5_EXTERNAL_STORAGE,
    HDF5_VIRTUAL_DATASET,
    HDF5_SHAPE_BOMB,
    ARCHIVE_PATH_TRAVERSAL,
)
