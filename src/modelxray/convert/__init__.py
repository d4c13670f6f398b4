"""Convert model weights to SafeTensors without executing anything in the source.

>>> from modelxray.convert import convert
>>> result = convert("pytorch_model.bin", "model.safetensors", verify=True)
>>> result.tensors, result.dropped

Supported sources (recognised from their bytes): PyTorch checkpoints (``torch.save``
zip archives and the legacy layout), NumPy ``.npy``/``.npz``, Keras ``.keras``
archives and ``.h5`` weight files.  The source is scanned first; a critical
finding refuses the conversion unless ``force=True`` — and even then nothing in
the file is ever imported, called or unpickled: tensors are rebuilt from the
pickle program's records and their bytes copied from the storages.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from modelxray.artifact import Artifact
from modelxray.budget import Limits

from .common import MAX_AMPLIFICATION, ConvertError, Extraction, check_output_size
from .output import OutputDir
from .safetensors_writer import TensorData, write_safetensors
from .verify import Verification
from .verify import verify as verify_output

__all__ = ["ConvertError", "ConvertRefused", "ConvertResult", "convert", "extract"]


class ConvertRefused(ConvertError):
    """The source holds a critical finding and ``force`` was not given."""

    def __init__(self, message: str, findings: list[str]) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass
class ConvertResult:
    source: str
    output: str
    format: str
    tensors: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    critical: list[str] = field(default_factory=list)  # critical findings (converted with force)
    forced: bool = False
    config_path: str | None = None
    verification: Verification | None = None
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def verified(self) -> bool | None:
        return None if self.verification is None else self.verification.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "format": self.format,
            "tensors": self.tensors,
            "metadata": self.metadata,
            "dropped": [{"name": n, "reason": r} for n, r in self.dropped],
            "critical": self.critical,
            "forced": self.forced,
            "config_path": self.config_path,
            "verified": self.verified,
            "verification_problems": self.verification.problems if self.verification else [],
        }


def detect(artifact: Artifact, limits: Limits) -> str:
    """Which converter applies, from the content (the extension never decides)."""
    from modelxray.containers.zip import ZipError, read_central_directory
    from modelxray.formats.registry import find_hdf5_superblock

    from .torch_checkpoint import is_legacy

    head = artifact.head(64)
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if is_legacy(head):
        return "pytorch-legacy"
    if find_hdf5_superblock(artifact, artifact.head()) is not None:
        return "keras-h5"
    if head[:4] == b"PK\x03\x04":
        try:
            with artifact.open() as f:
                names = [m.name for m in read_central_directory(f, artifact.size, limits)]
        except ZipError as exc:
            raise ConvertError(f"malformed zip archive: {exc}") from None
        files = [n for n in names if not n.endswith("/")]
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in files):
            return "pytorch-zip"
        if "model.weights.h5" in files:
            return "keras-v3"
        if files and all(n.endswith(".npy") for n in files):
            return "numpy-npz"
    raise ConvertError(
        "not a format modelxray converts (PyTorch checkpoint, NumPy .npy/.npz, "
        "Keras .keras/.h5 weights)"
    )


def extract(path: str, limits: Limits | None = None) -> Extraction:
    """The tensors, metadata and dropped values of ``path`` (nothing is written)."""
    from . import keras_weights, numpy_arrays, torch_checkpoint

    limits = limits or Limits()
    artifact = Artifact.from_file(path)
    kind = detect(artifact, limits)
    if kind in ("pytorch-zip", "pytorch-legacy"):
        return torch_checkpoint.extract(artifact, limits)
    if kind == "numpy":
        base = os.path.splitext(os.path.basename(path))[0] or "array"
        return numpy_arrays.extract_npy(artifact, base)
    if kind == "numpy-npz":
        return numpy_arrays.extract_npz(artifact, limits)
    if kind == "keras-h5":
        return keras_weights.extract_h5(artifact, limits)
    return keras_weights.extract_keras_zip(artifact, limits)


def _critical_findings(path: str) -> list[str]:
    from modelxray.engine import ScanOptions, scan
    from modelxray.model import Severity
    from modelxray.policy import Policy

    report = scan(path, ScanOptions(policy=Policy()))
    return [
        f"{f.rule_id} at {f.location}: {f.message}"
        for f in report.findings
        if f.severity >= Severity.CRITICAL
    ]


def _metadata(ext: Extraction) -> dict[str, str]:
    meta = dict(ext.metadata)
    if ext.format.startswith("pytorch") and "format" not in meta:
        meta["format"] = "pt"  # what Hugging Face loaders expect of converted checkpoints
    return meta


def config_path_for(dst: str) -> str:
    base = dst[: -len(".safetensors")] if dst.endswith(".safetensors") else dst
    return base + ".config.json"


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    force: bool = False,
    verify: bool = False,
    limits: Limits | None = None,
    max_amplification: float = MAX_AMPLIFICATION,
) -> ConvertResult:
    """Write the tensors of ``src`` to the SafeTensors file ``dst``; never executes ``src``.

    Raises :class:`ConvertRefused` when the source holds a critical finding and ``force``
    is false, :class:`ConvertError` when it cannot be converted: malformed, ambiguous
    (duplicate members, conflicting storage records, colliding or reserved names), rejected
    by the real loader, an output over ``max_amplification`` times the source's storage
    bytes, a symlink at an output name, or -- with ``verify`` -- an output that does not
    match the source (nothing is then written).
    """
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    limits = limits or Limits()
    if not os.path.isfile(src_s):
        raise ConvertError(f"no such file: {src_s}")
    folder, name = os.path.split(os.path.abspath(dst_s))
    config_name = os.path.basename(config_path_for(dst_s))
    with OutputDir(folder) as out_dir:
        out_dir.check_free(name)  # refuse a planted link before any work
        if os.path.exists(dst_s) and os.path.samefile(src_s, dst_s):
            raise ConvertError("the output would overwrite the source")
        critical = _critical_findings(src_s)
        if critical and not force:
            raise ConvertRefused(
                f"{src_s} holds {len(critical)} critical finding(s); not converted "
                "(--force converts anyway, still without executing anything)",
                critical,
            )
        ext = extract(src_s, limits)
        critical += [c for c in ext.findings if c not in critical]
        if critical and not force:
            raise ConvertRefused(
                f"{src_s}: the pickle program names dangerous code; not converted "
                "(--force converts anyway, still without executing anything)",
                critical,
            )
        if not ext.tensors:
            raise ConvertError(f"{src_s}: no tensors found to convert")
        check_output_size(ext, max_amplification)
        if ext.sidecar is not None:
            out_dir.check_free(config_name)
        meta = _metadata(ext)
        tmp, f = out_dir.create_temp(name)
        with f:
            digests = write_safetensors(
                f, [TensorData(t.name, t.dtype, t.shape, t.chunks) for t in ext.tensors], meta
            )
            verification = None
            if verify:
                verification = verify_output(ext, meta, f, f.tell(), src_s)
                if not verification.ok:
                    raise ConvertError(
                        "verification failed; nothing written: " + "; ".join(verification.problems)
                    )
        result = ConvertResult(
            source=src_s,
            output=dst_s,
            format=ext.format,
            tensors=[t.name for t in ext.tensors],
            metadata=meta,
            dropped=list(ext.dropped),
            critical=critical,
            forced=bool(critical),
            verification=verification,
            sha256=digests,
        )
        config_tmp = None
        if ext.sidecar is not None:
            config_tmp, cf = out_dir.create_temp(config_name)
            with cf:
                cf.write(json.dumps(ext.sidecar, indent=2, sort_keys=False).encode("utf-8"))
                cf.write(b"\n")
        out_dir.publish(tmp, name)
        if config_tmp is not None:
            out_dir.publish(config_tmp, config_name)
            result.config_path = config_path_for(dst_s)
    return result
