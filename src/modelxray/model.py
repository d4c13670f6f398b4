"""Plain result types shared by every stage: findings, per-file results, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

LOCATION_SEP = " › "
_WORDS: dict[type, frozenset[str]] = {}  # StrEnum.values(), by vocabulary


class StrEnum(str, Enum):
    """A vocabulary word that is also its text (``enum.StrEnum`` from Python 3.11 on).

    ``str()``, f-strings and JSON give the value, so reports read exactly as plain strings.
    """

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> frozenset[str]:
        """Every word of the vocabulary, as plain strings (computed once per vocabulary)."""
        words = _WORDS.get(cls)
        if words is None:
            words = _WORDS[cls] = frozenset(str(m.value) for m in cls)
        return words

    @classmethod
    def parse(cls, text: str, what: str) -> str:
        """``text`` if it is a word of the vocabulary, else ValueError naming the valid words."""
        if text not in cls.values():
            valid = ", ".join(sorted(cls.values()))
            raise ValueError(f"unknown {what} {text!r} (expected one of {valid})")
        return text


class Verdict(StrEnum):
    """A file's (and the run's) verdict, set by the policy; worst first: error, blocked."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"
    ERROR = "error"


class Disposition(StrEnum):
    """A rule's state in the policy (block, warn, off) and what it made of a finding
    (block: counts toward the gate; warn; suppressed by a suppression entry)."""

    BLOCK = "block"
    WARN = "warn"
    OFF = "off"
    SUPPRESSED = "suppressed"


# Evidence key of a finding an allow entry of the policy cleared: {"list": "allow.<list>",
# "entry": <the entry's target>}.  The policy accepts it with that entry's reason (it is
# reported as suppressed, never dropped); an entry the policy does not hold accepts nothing.
ALLOWED_BY = "allowed_by_policy"


class FormatName(StrEnum):
    """Every format name a scan may record in ``FileResult.formats`` (one registry).

    A reader's ``name`` is recorded for the file it reads; some readers then name what they
    found more precisely (the layout of a zip, a compression codec, a Keras or Hugging Face
    document).  ``Rule.formats`` and a policy's ``approved_formats`` are checked against it.
    """

    # Reader names (formats.readers()).
    COMPRESSED = "compressed"
    CONDA_ENV = "conda-env"
    FLAX_MSGPACK = "flax-msgpack"
    GGUF = "gguf"
    HDF5 = "hdf5"
    JINJA_TEMPLATE = "jinja-template"
    JSON = "json"
    KERAS_METADATA_PB = "keras-metadata-pb"
    MLFLOW_MLMODEL = "mlflow-mlmodel"
    NUMPY = "numpy"
    ONNX = "onnx"
    ONNX_TENSOR = "onnx-tensor"
    PICKLE = "pickle"
    PIP_REQUIREMENTS = "pip-requirements"
    PYPROJECT = "pyproject"
    PYTHON = "python"
    SAFETENSORS = "safetensors"
    SEVENZIP = "7z"
    TAR = "tar"
    TF_GRAPHDEF = "tf-graphdef"
    TF_SAVEDMODEL = "tf-savedmodel"
    TF_SAVEDMODEL_FINGERPRINT = "tf-savedmodel-fingerprint"
    TF_SAVEDMODEL_TEXT = "tf-savedmodel-text"
    TF_VARIABLES = "tf-variables"
    TF_VARIABLES_INDEX = "tf-variables-index"
    TFLITE = "tflite"
    TORCHSCRIPT_CODE = "torchscript-code"
    TORCH_PACKAGE_EXTERN = "torch-package-extern"
    XGBOOST = "xgboost"
    YAML_CONFIG = "yaml-config"
    ZIP = "zip"
    # Zip layouts (containers.zip.classify_archive).
    KERAS_V3 = "keras-v3"
    NUMPY_NPZ = "numpy-npz"
    PYTORCH_ZIP = "pytorch-zip"
    SKOPS = "skops"
    TORCHSCRIPT = "torchscript"
    TORCH_PACKAGE = "torch-package"
    TORCHSERVE_MAR = "torchserve-mar"
    # Compression codecs (containers.compressed).
    BZIP2 = "bzip2"
    GZIP = "gzip"
    JOBLIB_ZF = "joblib-zf"
    LZ4 = "lz4"
    LZMA = "lzma"
    XZ = "xz"
    ZLIB = "zlib"
    ZSTD = "zstd"
    # What a reader recognised inside a more general format.
    HF_CONFIG = "hf-config"
    HF_TOKENIZER_CONFIG = "hf-tokenizer-config"
    JUPYTER_NOTEBOOK = "jupyter-notebook"
    KERAS_H5 = "keras-h5"
    KERAS_JSON = "keras-json"
    LIGHTGBM_TEXT = "lightgbm-text"
    MLFLOW_PYTHON_ENV = "mlflow-python-env"
    PYTORCH_LEGACY = "pytorch-legacy"
    PYTORCH_LEGACY_TAR_MEMBER = "pytorch-legacy-tar-member"
    TORCHSERVE_MANIFEST = "torchserve-manifest"
    XGBOOST_BINARY = "xgboost-binary"
    XGBOOST_JSON = "xgboost-json"
    XGBOOST_UBJ = "xgboost-ubj"


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


class Confidence(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Location:
    """Where something sits: the file on disk, then the path inside it.

    ``inner`` holds one entry per level: an archive member, an HDF5 attribute,
    a JSON path, a layer path, an opcode offset.
    """

    path: str
    inner: tuple[str, ...] = ()

    def child(self, *parts: str) -> Location:
        return Location(self.path, self.inner + tuple(p for p in parts if p))

    def __str__(self) -> str:
        return LOCATION_SEP.join((self.path, *self.inner))


@dataclass(frozen=True)
class Judgement:
    """What an analyser concludes from plain data, before a reader makes it a finding.

    Analysers return (yield) these and never see the scan: ``kind`` names the conclusion and
    the family's ``BY_KIND`` table beside its rules (``rules/<family>/``) maps it to a rule;
    ``where`` is the path below the location the reader passes; ``severity`` and
    ``confidence`` None mean the rule's own.  :func:`modelxray.scanning.report_judgements`
    turns them into findings.
    """

    kind: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    where: tuple[str, ...] = ()
    severity: Severity | None = None
    confidence: Confidence | None = None


@dataclass
class Finding:
    """One rule's finding at one location, with its evidence."""

    rule_id: str
    severity: Severity
    confidence: Confidence
    location: Location
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    help_uri: str = ""
    # What the policy does with it: block (counts toward the gate), warn, suppressed.
    disposition: Disposition = Disposition.BLOCK

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """Rebuild a finding from :meth:`to_dict` (results sent back by a child process)."""
        return cls(
            rule_id=d["rule_id"],
            severity=Severity.parse(d["severity"]),
            confidence=Confidence[str(d["confidence"]).upper()],
            location=Location(d["path"], tuple(d.get("inner", ()))),
            message=d["message"],
            evidence=dict(d.get("evidence", {})),
            help_uri=d.get("help_uri", ""),
            disposition=Disposition(d.get("disposition", Disposition.BLOCK)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": str(self.severity),
            "confidence": str(self.confidence),
            "location": str(self.location),
            "path": self.location.path,
            "inner": list(self.location.inner),
            "message": self.message,
            "evidence": self.evidence,
            "help_uri": self.help_uri,
            "disposition": str(self.disposition),
        }


class FileStatus(StrEnum):
    """How far a file got: fully scanned, a format we don't know, or one we could not read."""

    SCANNED = "scanned"
    UNSUPPORTED = "unsupported"
    UNSCANNABLE = "unscannable"


@dataclass
class FileResult:
    """Everything a scan found about one file given to it."""

    path: str
    size: int
    sha256: str
    formats: list[str] = field(default_factory=list)
    status: FileStatus = FileStatus.SCANNED
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    verdict: Verdict = Verdict.ALLOWED  # set by the policy
    suppressed: list[Finding] = field(default_factory=list)
    # Real paths of other files this file's loader reads as its data (ONNX external data,
    # joblib sidecars): the engine marks those files as this model's data (not in reports).
    references: list[str] = field(default_factory=list)
    # A remote file (read by range requests): the bytes fetched to judge it, and the commit
    # (a hub revision resolved) it was read at.  None for local files.
    bytes_fetched: int | None = None
    revision: str | None = None

    @property
    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "formats": self.formats,
            "status": str(self.status),
            "verdict": str(self.verdict),
            "max_severity": str(self.max_severity) if self.max_severity is not None else None,
            "seconds": round(self.seconds, 4),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [f.to_dict() for f in self.suppressed],
            **({} if self.bytes_fetched is None else {"bytes_fetched": self.bytes_fetched}),
            **({"revision": self.revision} if self.revision else {}),
        }


@dataclass(frozen=True)
class Gate:
    """What decided the run, as plain values (from ``Policy.gate()``): the report shows it and
    decides whether the gate fails, without depending on the policy module."""

    fail_on: Severity | None = Severity.HIGH
    report_only: bool = False
    fail_on_unscannable: bool = True
    fail_on_unsupported: bool = False
    source: str | None = None
    fingerprint: str = ""


@dataclass
class Report:
    """The results of one scan, in source order, and the gate they were judged by."""

    files: list[FileResult] = field(default_factory=list)
    gate: Gate | None = None  # None: the built-in defaults
    seconds: float = 0.0
    # Set when the run stopped before every file was judged (the signal's name, e.g.
    # "SIGINT"): ``files`` holds what was judged so far, the verdict is error and the gate
    # fails.  ``total`` is how many files the run set out to judge (None: not known).
    interrupted: str | None = None
    total: int | None = None

    @property
    def complete(self) -> bool:
        """Whether every file the run set out to judge was judged."""
        return self.interrupted is None

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    @property
    def fail_on(self) -> Severity | None:
        return self.gate.fail_on if self.gate is not None else Severity.HIGH

    @property
    def report_only(self) -> bool:
        return self.gate is not None and self.gate.report_only

    @property
    def verdict(self) -> Verdict:
        """The run's verdict: the worst file verdict (error > blocked > allowed); error when
        the run was interrupted (what was not judged cannot be allowed)."""
        if not self.complete:
            return Verdict.ERROR
        verdicts = {r.verdict for r in self.files}
        for v in (Verdict.ERROR, Verdict.BLOCKED):
            if v in verdicts:
                return v
        return Verdict.ALLOWED

    @property
    def failed(self) -> bool:
        """Whether the gate fails: any file blocked or in error, unless report-only; an
        interrupted run always fails (report-only vouches for findings, not for files never
        judged)."""
        if not self.complete:
            return True
        return not self.report_only and self.verdict != Verdict.ALLOWED

    def counts(self) -> dict[str, int]:
        out = {str(s): 0 for s in reversed(Severity)}
        for f in self.findings:
            out[str(f.severity)] += 1
        return out
