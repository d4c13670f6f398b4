"""Fuzz targets: one function per parser entry point, each checking that entry point's contract.

A target takes the fuzzer's bytes and either returns normally or raises
:class:`ContractViolation` (or lets an unexpected exception escape): both are crashes
to atheris and failures to the smoke test.  Contracts:

* **pickle VM** (``scan_bytes``/``scan_stream``): never raises; every stream is
  ``ok`` or carries ``error``/``limit_hit``; verdicts and pseudo-source render.
* **marshal reader** (``read_code``): only ``MarshalError``/``BudgetExceeded``;
  ``judge_code`` never raises.
* **protobuf wire / SavedModel decoders**: only ``ProtobufError``/``BudgetExceeded``.
* **Keras config walk** (``judge_config``, reported by ``formats.keras_findings.report_config``):
  only ``BudgetExceeded``.
* **format readers and containers** (``reader.scan``, run the way the engine runs
  it): only format errors (``ValueError``/``OSError``/``EOFError`` subclasses, codec
  errors) or ``BudgetExceeded`` escape, and no child scan reports a programming error.
* **engine** on arbitrary bytes: never raises, and a file whose parse failed is never
  allowed as clean.

Programming errors (``IndexError``, ``KeyError``, ``TypeError``, ``RecursionError``,
``struct.error`` …) are bugs even though the engine would turn them into an MX-SCAN-001
finding: they mean a bound or a check is missing.

Nothing here executes what it parses.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from datetime import date

from modelxray import formats
from modelxray.artifact import Artifact
from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.engine import ScanContext, ScanOptions, scan_artifact
from modelxray.model import FileResult, Location
from modelxray.policy import file_verdict

# Default limits, except a shorter per-file clock so a slow input is a budget finding well
# inside the fuzzer's -timeout (a hang is then a real bug: a loop that never checks the clock).
FUZZ_LIMITS = Limits(max_seconds_per_file=5.0)

# Exceptions that say "this is not a well-formed file" -- the documented way for a reader
# to give up (the engine turns them into MX-SCAN-001).
FORMAT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # ZipError, TarError, ProtobufError, MarshalError, GGUFMalformed, Unicode…
    OSError,  # DecompressionError, MissingCodec, h5py open failures
    EOFError,
    zlib.error,
    lzma.LZMAError,
    BudgetExceeded,
)
# Exception names that, seen in an MX-SCAN-001 finding, mean a parser bug.
BUG_NAMES = frozenset(
    {
        "IndexError", "KeyError", "TypeError", "AttributeError", "AssertionError",
        "ZeroDivisionError", "NameError", "UnboundLocalError", "RecursionError",
        "MemoryError", "SystemError", "StopIteration", "error", "OverflowError",
        "NotImplementedError", "UnicodeError",
    }
)  # fmt: skip

_ = bz2  # bz2 errors are OSError; imported so the codec is present before the fuzzer starts


class ContractViolation(AssertionError):
    """A parser broke its contract on this input."""


def _context(name: str, size: int) -> ScanContext:
    return ScanContext(FileResult(path=name, size=size, sha256=""), ScanOptions(FUZZ_LIMITS))


def _check_findings(ctx: ScanContext) -> None:
    for f in ctx.result.findings:
        error = f.evidence.get("error")
        if f.rule_id == "MX-SCAN-001" and error in BUG_NAMES:
            raise ContractViolation(f"parser bug reported as a finding: {f.message}")


def _run_reader(
    reader_name: str,
    data: bytes,
    name: str,
    allowed: tuple[type[BaseException], ...] = FORMAT_ERRORS,
    *,
    fs_path: str | None = None,
) -> ScanContext:
    reader = next(r for r in formats.readers() if r.name == reader_name)
    artifact = Artifact.from_bytes(data, Location(name), name)
    if fs_path is not None:
        artifact = Artifact.from_file(fs_path, display=name)
    ctx = _context(name, len(data))
    # The engine only hands a reader what its sniffer accepted; do the same.
    if reader.sniff(artifact, artifact.head()) <= 0:
        return ctx
    try:
        reading = reader.scan(artifact, ctx)
        if reading is not None:
            ctx.drive(reading)  # children are scanned by the engine, as in a real scan
    except allowed:
        pass
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ContractViolation(f"{reader_name}: {type(exc).__name__}: {exc}"[:800]) from exc
    _check_findings(ctx)
    return ctx


# --------------------------------------------------------------------------- analysers


def fuzz_pickle(data: bytes) -> None:
    from modelxray.analysis.pickle import render_program, scan_bytes, verdict_items

    # The first byte picks the joblib mode; the rest is the stream.
    mode = {0: None, 1: True, 2: False}[data[0] % 3] if data else None
    body = data[1:] if data else data
    try:
        streams = scan_bytes(body, Budget(FUZZ_LIMITS), joblib=mode)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ContractViolation(f"scan_bytes raised {type(exc).__name__}: {exc}") from exc
    if not streams:
        raise ContractViolation("scan_bytes returned no stream")
    for s in (x for top in streams for x in top.walk()):
        if s.error is not None and s.error.kind == "internal":
            raise ContractViolation(f"pickle VM internal error: {s.error.message}"[:800])
        if s.limit_hit is not None and s.limit_hit.startswith("recursion"):
            raise ContractViolation(f"pickle VM recursed without a bound: {s.limit_hit}")
    for s in streams:
        if not (0 <= s.start <= s.end <= len(body)):
            raise ContractViolation(f"stream bounds {s.start}..{s.end} outside {len(body)}")
        if not (s.ok or s.error is not None or s.limit_hit is not None):
            raise ContractViolation("a stream that is not ok carries no error or limit")
    verdict_items(streams)
    for s in streams:
        render_program(s)


def fuzz_marshal(data: bytes) -> None:
    from modelxray.analysis.lambda_code import judge_code
    from modelxray.analysis.marshal_reader import MarshalError, read_code

    budget = Budget(FUZZ_LIMITS)
    try:
        code = read_code(data, budget)
    except (MarshalError, BudgetExceeded):
        pass
    else:
        for co in code.walk():
            co.all_names()
            co.all_strings()
    try:
        judge_code(data, Budget(FUZZ_LIMITS))
    except BudgetExceeded:
        pass


def _walk_message(buf: memoryview, budget: Budget, depth: int, work: list[int]) -> None:
    from modelxray.formats.protobuf_wire import Wire, iter_fields, iter_packed_varints

    for _num, wire, value in iter_fields(buf, budget, depth):
        # Every length-delimited value may be a message, a string or packed varints; try the
        # first few levels as messages (bounded, so the harness itself stays linear-ish).
        if wire != Wire.LEN or not isinstance(value, memoryview) or depth >= 6:
            continue
        work[0] -= len(value)
        if work[0] < 0:
            return
        try:
            _walk_message(value, budget, depth + 1, work)
        except ValueError:
            pass
        try:
            for _ in iter_packed_varints(value, budget):
                pass
        except ValueError:
            pass


def fuzz_protobuf(data: bytes) -> None:
    from modelxray.formats.protobuf_wire import (
        ProtobufError,
        fields_by_number,
        is_plausible_message,
    )

    budget = Budget(FUZZ_LIMITS)
    is_plausible_message(data, budget)
    try:
        fields_by_number(data, budget)
        _walk_message(memoryview(data), budget, 0, [4 * len(data)])
    except (ProtobufError, BudgetExceeded):
        pass


def fuzz_tf_savedmodel(data: bytes) -> None:
    from modelxray.formats.protobuf_wire import ProtobufError
    from modelxray.formats.tf import savedmodel as tf

    # The first byte picks the decoder; sniffers run on everything.
    which = data[0] % 4 if data else 0
    body = data[1:]
    tf.looks_like_saved_model(body)
    tf.looks_like_keras_metadata(body)
    tf.looks_like_saved_model_text(body)
    budget = Budget(FUZZ_LIMITS)
    try:
        if which == 0:
            info = tf.read_saved_model(body, budget)
            info.ops()
            for mg in info.meta_graphs:
                list(mg.iter_nodes())
                mg.saver_functions()
        elif which == 1:
            list(tf.read_graph_def(body, budget).iter_nodes())
        elif which == 2:
            tf.read_keras_metadata(body, budget)
        else:
            tf.read_saved_model_text(body, budget)
    except (ProtobufError, BudgetExceeded):
        pass


def fuzz_keras_config(data: bytes) -> None:
    from modelxray.analysis.keras_config import KerasDoc
    from modelxray.formats.json_doc import parse_json_text
    from modelxray.formats.keras_findings import report_config

    try:
        doc = parse_json_text(data.decode("utf-8", "replace"), "fuzz input")
    except (ValueError, BudgetExceeded):
        return
    ctx = _context("fuzz.json", len(data))
    # The input's length picks the container the config claims to come from.
    container = ("h5", "keras-zip", "json", "savedmodel")[len(data) % 4]
    version = doc.get("keras_version") if isinstance(doc, dict) else None
    try:
        report_config(
            KerasDoc(
                Location("fuzz.json"),
                doc,
                keras_version=version if isinstance(version, str) else None,
                container=container,
            ),
            ctx,
        )
    except BudgetExceeded:
        pass
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ContractViolation(f"report_config raised {type(exc).__name__}: {exc}") from exc
    _check_findings(ctx)


_HUB_NAMES = ("model_index.json", "adapter_config.json", "modules.json", "config.json")


def fuzz_hub_config(data: bytes) -> None:
    """``analysis.hf_config.judge_hf_config`` on parsed JSON (the input's length picks the
    file name the config claims)."""
    from modelxray.analysis.hf_config import judge_hf_config, looks_like_hf_config
    from modelxray.formats.json_doc import parse_json_text

    try:
        doc = parse_json_text(data.decode("utf-8", "replace"), "fuzz input")
    except (ValueError, BudgetExceeded):
        return
    if not looks_like_hf_config(doc):
        return
    name = _HUB_NAMES[len(data) % len(_HUB_NAMES)]
    artifact = Artifact.from_bytes(data, Location(name), name)
    try:
        for judgement in judge_hf_config(doc, artifact, Budget(FUZZ_LIMITS)):
            if not judgement.message or not judgement.where:
                raise ContractViolation(f"a judgement without message or path: {judgement}")
    except BudgetExceeded:
        pass
    except ContractViolation:
        raise
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ContractViolation(f"judge_hf_config raised {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- readers


def fuzz_zip(data: bytes) -> None:
    _run_reader("zip", data, "fuzz.zip")


def fuzz_tar(data: bytes) -> None:
    _run_reader("tar", data, "fuzz.tar")


def fuzz_gguf(data: bytes) -> None:
    _run_reader("gguf", data, "fuzz.gguf")


def fuzz_template(data: bytes) -> None:
    _run_reader("jinja-template", data, "chat_template.jinja")


_MANIFEST_NAMES = ("requirements.txt", "conda.yaml", "pyproject.toml", "python_env.yaml")
_MANIFEST_READERS = ("pip-requirements", "conda-env", "pyproject", "conda-env")


def fuzz_manifest(data: bytes) -> None:
    """Byte 0 picks the manifest reader (requirements, conda env, pyproject, python_env)."""
    pick = data[0] % len(_MANIFEST_NAMES) if data else 0
    _run_reader(_MANIFEST_READERS[pick], data[1:], _MANIFEST_NAMES[pick])


def fuzz_yaml_config(data: bytes) -> None:
    _run_reader("yaml-config", data, "config.yaml")


def fuzz_safetensors(data: bytes) -> None:
    _run_reader("safetensors", data, "fuzz.safetensors")


def fuzz_onnx(data: bytes) -> None:
    _run_reader("onnx", data, "fuzz.onnx")


def fuzz_tflite(data: bytes) -> None:
    _run_reader("tflite", data, "fuzz.tflite")


def fuzz_msgpack(data: bytes) -> None:
    _run_reader("flax-msgpack", data, "fuzz.msgpack")


def fuzz_compressed(data: bytes) -> None:
    _run_reader("compressed", data, "fuzz.gz")


def fuzz_hdf5(data: bytes) -> None:
    """The HDF5 structure walk (pure Python: any stream; inputs kept small for speed)."""
    if len(data) > 1 << 20:
        return
    _run_reader("hdf5", data, "fuzz.h5")


# --------------------------------------------------------------------------- engine

_NAMES = (
    "model.bin", "model.h5", "model.keras", "model.pkl", "model.pt", "model.onnx",
    "model.gguf", "model.safetensors", "model.tflite", "saved_model.pb", "config.json",
    "model.zip", "model.tar", "model.msgpack", "MLmodel", "model.json", "notebook.ipynb",
    "train.py", "model.npz", "keras_metadata.pb",
)  # fmt: skip


def fuzz_engine(data: bytes) -> None:
    """The whole engine on arbitrary bytes: sniff, read, analyse, judge.  Never raises."""
    # The first byte picks a file name (extensions only break ties); the rest is the file.
    name = _NAMES[data[0] % len(_NAMES)] if data else "empty"
    body = data[1:]
    artifact = Artifact.from_bytes(body, Location(name), name)
    ctx = _context(name, len(body))
    try:
        scan_artifact(artifact, ctx)
        verdict = file_verdict(ctx.options.policy, ctx.result, date.today())
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ContractViolation(f"the engine raised {type(exc).__name__}: {exc}") from exc
    _check_findings(ctx)
    failed = any(f.rule_id in ("MX-SCAN-001", "MX-SCAN-002") for f in ctx.result.findings)
    if failed and verdict == "allowed":
        raise ContractViolation("a file that could not be fully parsed was allowed as clean")
    ctx.result.to_dict()


Target = Callable[[bytes], None]

# name -> (target, the seed kinds it starts from; see fuzz/seeds.py)
HARNESSES: dict[str, tuple[Target, tuple[str, ...]]] = {
    "pickle": (fuzz_pickle, ("pickle",)),
    "marshal": (fuzz_marshal, ("marshal",)),
    "protobuf": (fuzz_protobuf, ("protobuf",)),
    "tf_savedmodel": (fuzz_tf_savedmodel, ("savedmodel",)),
    "keras_config": (fuzz_keras_config, ("keras_json",)),
    "hub_config": (fuzz_hub_config, ("hub_config",)),
    "hdf5": (fuzz_hdf5, ("hdf5",)),
    "zip": (fuzz_zip, ("zip",)),
    "tar": (fuzz_tar, ("tar",)),
    "compressed": (fuzz_compressed, ("compressed",)),
    "gguf": (fuzz_gguf, ("gguf",)),
    "safetensors": (fuzz_safetensors, ("safetensors",)),
    "onnx": (fuzz_onnx, ("onnx",)),
    "tflite": (fuzz_tflite, ("tflite",)),
    "msgpack": (fuzz_msgpack, ("msgpack",)),
    "template": (fuzz_template, ("template",)),
    "manifest": (fuzz_manifest, ("manifest",)),
    "yaml_config": (fuzz_yaml_config, ("yaml_config",)),
    "engine": (fuzz_engine, ("*",)),
}


def available(name: str) -> bool:
    """Whether this checkout has the reader a harness needs (some are still being written)."""
    wanted = {
        "zip": "zip", "tar": "tar", "gguf": "gguf", "safetensors": "safetensors",
        "onnx": "onnx", "tflite": "tflite", "msgpack": "flax-msgpack", "hdf5": "hdf5",
        "compressed": "compressed",
    }.get(name)  # fmt: skip
    return wanted is None or any(r.name == wanted for r in formats.readers())


def run_one(name: str, data: bytes) -> None:
    """Run one harness on one input (what the regression tests and the smoke test call)."""
    HARNESSES[name][0](data)


__all__ = ["FUZZ_LIMITS", "HARNESSES", "ContractViolation", "available", "run_one"]
