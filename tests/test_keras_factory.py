"""Sanity tests of the Keras fixture factory (tests/factories/keras_models.py).

Malicious samples are only ever read as zip / JSON / HDF5 attributes and base64 text here:
never passed to Keras loaders, ``marshal.loads`` or ``pickle``.
"""

from __future__ import annotations

import base64
import glob
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.factories import keras_models as km
from tests.factories.keras_models import BENIGN, CLEAN, MALICIOUS, Sample

MARKER_GLOB = f"{km.MARKER_DIR}/{km.MARKER_PREFIX}*"

REQUIRED = {
    "clean_dense_keras": km.KIND_KERAS_ZIP,
    "clean_dense_h5": km.KIND_KERAS3_H5,
    "clean_complex_keras": km.KIND_KERAS_ZIP,
    "clean_complex_h5": km.KIND_KERAS3_H5,
    "clean_dense_weights_h5": km.KIND_WEIGHTS_H5,
    "clean_dense_json": km.KIND_KERAS3_JSON,
    "clean_dense_keras_dir": km.KIND_KERAS_DIR,
    **{
        f"benign_{variant}_{ext}": kind
        for variant in ("toplevel", "nested", "timedistributed", "activation", "arguments")
        for ext, kind in (
            ("keras", km.KIND_KERAS_ZIP),
            ("h5", km.KIND_KERAS3_H5),
            ("json", km.KIND_KERAS3_JSON),
        )
    },
    "benign_shape_mask_keras": km.KIND_KERAS_ZIP,
    "benign_tfkeras_h5": km.KIND_TFKERAS_H5,
    "mal_toplevel_keras": km.KIND_KERAS_ZIP,
    "mal_toplevel_h5": km.KIND_KERAS3_H5,
    "mal_nested_keras": km.KIND_KERAS_ZIP,
    "mal_timedistributed_keras": km.KIND_KERAS_ZIP,
    "mal_bidirectional_keras": km.KIND_KERAS_ZIP,
    "mal_activation_value_keras": km.KIND_KERAS_ZIP,
    "mal_os_system_keras": km.KIND_KERAS_ZIP,
    "mal_exec_keras": km.KIND_KERAS_ZIP,
    "mal_getattr_eval_keras": km.KIND_KERAS_ZIP,
    "mal_defaults_activation_keras": km.KIND_KERAS_ZIP,
    "mal_closure_keras": km.KIND_KERAS_ZIP,
    "mal_tfkeras_str_h5": km.KIND_TFKERAS_H5,
    "mal_tfkeras_defaults_h5": km.KIND_TFKERAS_H5,
    "mal_tfkeras_function_ref_h5": km.KIND_TFKERAS_H5,
    "mal_tfkeras_legacy_function_ref_h5": km.KIND_TFKERAS_H5,
    "mal_tuple_json": km.KIND_TFKERAS_JSON,
    "mal_compile_config_keras": km.KIND_KERAS_ZIP,
    "mal_training_config_h5": km.KIND_KERAS3_H5,
    "mal_json": km.KIND_KERAS3_JSON,
}


@pytest.fixture(scope="module")
def corpus(keras_corpus: dict[str, Any]) -> dict[str, Sample]:
    """The session corpus from tests/conftest.py (built once by build_keras_corpus)."""
    assert all(isinstance(sample, Sample) for sample in keras_corpus.values())
    return keras_corpus


# --------------------------------------------------------------------------------------------
# Static readers (safe for malicious samples: no Keras, no marshal, no pickle)
# --------------------------------------------------------------------------------------------


def read_configs(sample: Sample) -> dict[str, Any]:
    """Every JSON config stored in a sample, by location."""
    path = sample.path
    if path.is_dir():
        return {"config.json": json.loads((path / "config.json").read_text(encoding="utf-8"))}
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as zf:
            return {"config.json": json.loads(zf.read("config.json"))}
    if path.suffix == ".json":
        return {"file": json.loads(path.read_text(encoding="utf-8"))}
    configs: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        for attr in ("model_config", "training_config"):
            if attr in f.attrs:
                raw = f.attrs[attr]
                configs[attr] = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    return configs


def iter_strings(tree: Any) -> Iterator[str]:
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from iter_strings(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from iter_strings(item)


def code_blobs(tree: Any) -> list[bytes]:
    """Decode (without unmarshalling) every string that looks like a Keras code blob."""
    blobs = []
    for text in iter_strings(tree):
        if text.startswith(("4w", "Yw")) and len(text) > 40:
            blobs.append(base64.decodebytes(text.encode("ascii")))
        elif text[:1] in ("\xe3", "c") and len(text) > 40 and not text.isprintable():
            blobs.append(text.encode("raw_unicode_escape"))
    return blobs


def walk_dicts(tree: Any) -> Iterator[dict[str, Any]]:
    for _, node in km.walk_dicts(tree):
        yield node


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_every_sample_exists(corpus: dict[str, Sample]) -> None:
    assert len(corpus) >= 50
    for name, sample in corpus.items():
        assert sample.path.exists(), name
        assert sample.expect in (CLEAN, BENIGN, MALICIOUS), name
        assert sample.note, name
        if sample.expect == MALICIOUS:
            assert not sample.reloadable, name
        else:
            assert sample.marker is None, name
        if sample.marker is not None:
            assert sample.marker == km.marker_path(name)
    paths = [sample.path for sample in corpus.values()]
    assert len(set(paths)) == len(paths), "two samples share one file"


def test_required_samples_and_kinds(corpus: dict[str, Sample]) -> None:
    for name, kind in REQUIRED.items():
        assert name in corpus, name
        assert corpus[name].kind == kind, name
        assert (
            name.split("_")[0]
            == {CLEAN: "clean", BENIGN: "benign", MALICIOUS: "mal"}[corpus[name].expect]
        )


@pytest.mark.parametrize(
    ("version", "suffix"), [("3.8", ".h5"), ("3.13", ".keras"), ("3.6", ".h5"), ("2.7", ".h5")]
)
def test_foreign_python_samples(corpus: dict[str, Sample], version: str, suffix: str) -> None:
    if km.pyenv_python(version) is None:
        pytest.skip(f"pyenv Python {version} is not installed")
    found = [s for s in corpus.values() if s.code_python == version and s.path.suffix == suffix]
    assert found and all(s.expect == MALICIOUS for s in found)


def test_keras_archives_have_members(corpus: dict[str, Sample]) -> None:
    keras = km.import_keras()
    for name, sample in corpus.items():
        if sample.kind == km.KIND_KERAS_ZIP:
            assert zipfile.is_zipfile(sample.path), name
            with zipfile.ZipFile(sample.path) as zf:
                members = zf.namelist()
                metadata = json.loads(zf.read("metadata.json"))
            assert {"config.json", "metadata.json", "model.weights.h5"} <= set(members), name
            assert metadata["keras_version"] == keras.__version__, name
        elif sample.kind == km.KIND_KERAS_DIR:
            for member in ("config.json", "metadata.json", "model.weights.h5"):
                assert (sample.path / member).is_file(), (name, member)
        elif sample.path.suffix == ".h5":
            with h5py.File(sample.path, "r") as f:
                if sample.kind == km.KIND_WEIGHTS_H5:
                    assert "model_config" not in f.attrs, name
                else:
                    assert "model_config" in f.attrs and "model_weights" in f, name


def test_benign_and_clean_carry_no_payload(corpus: dict[str, Sample]) -> None:
    for name, sample in corpus.items():
        if sample.expect == MALICIOUS:
            continue
        configs = read_configs(sample)
        blobs = code_blobs(configs)
        if sample.expect == CLEAN:
            assert not blobs, name
        else:
            assert blobs, name
        text = json.dumps(configs).encode() + b"".join(blobs)
        assert km.MARKER_PREFIX.encode() not in text, name
        assert b"system" not in text, name


def test_malicious_payload_present(corpus: dict[str, Sample]) -> None:
    for name, sample in corpus.items():
        if sample.expect != MALICIOUS:
            continue
        configs = read_configs(sample)
        json_text = json.dumps(configs)
        blobs = code_blobs(configs)
        if sample.marker is None:  # function references: no code, only names
            assert "function" in json_text and '"system"' in json_text, name
            assert not blobs, name
            continue
        assert blobs, name
        marker = sample.marker.encode()
        in_code = any(marker in blob for blob in blobs)
        in_json = sample.marker in json_text
        if "defaults" in name or "closure" in name:
            # The command travels as a plain JSON value; the code only says `system`.
            assert in_json and not in_code, name
            assert any(b"system" in blob for blob in blobs), name
        elif sample.kind == km.KIND_KERAS21_H5:
            assert in_code and in_json, name  # raw_unicode_escape code is readable JSON text
        else:
            assert in_code and not in_json, name


def test_malicious_shapes(corpus: dict[str, Sample]) -> None:
    def configs(name: str) -> Any:
        return read_configs(corpus[name])

    def layer_function(config: Any) -> list[Any]:
        return [
            node["config"]["function"]
            for node in walk_dicts(config)
            if node.get("class_name") == "Lambda"
        ]

    # Keras 3 `__lambda__` code form, top level and inside a nested sub-model / TimeDistributed.
    for name in ("mal_toplevel_keras", "mal_nested_keras", "mal_timedistributed_keras"):
        (fn,) = layer_function(configs(name))
        assert fn["class_name"] == "__lambda__" and fn["config"]["code"].startswith("4w"), name
    nested = configs("mal_nested_keras")["config.json"]
    sub = [layer for layer in nested["config"]["layers"] if layer["class_name"] == "Functional"]
    assert layer_function(sub), "payload must sit inside the sub-model"

    bidi = configs("mal_bidirectional_keras")["config.json"]
    (wrapper,) = [n for n in walk_dicts(bidi) if n.get("class_name") == "Bidirectional"]
    for key in ("layer", "backward_layer"):
        activation = wrapper["config"][key]["config"]["activation"]
        assert activation["class_name"] == "__lambda__", key
        assert activation["config"]["value"][0].startswith("4w"), key

    value_form = configs("mal_activation_value_keras")["config.json"]
    assert any(set(n) == {"value"} for n in walk_dicts(value_form))

    defaults = configs("mal_defaults_activation_keras")["config.json"]
    (act,) = [n for n in walk_dicts(defaults) if n.get("class_name") == "__lambda__"]
    assert act["config"]["value"][1] == [km.marker_command("mal_defaults_activation_keras")]

    closure = layer_function(configs("mal_closure_keras"))[0]["config"]
    assert closure["closure"] == [km.marker_command("mal_closure_keras")]

    (shape_mask,) = [
        node["config"]
        for node in walk_dicts(configs("mal_output_shape_keras"))
        if node.get("class_name") == "Lambda"
    ]
    payload = code_blobs(shape_mask["output_shape"])[0]
    assert km.MARKER_PREFIX.encode() in payload
    assert km.MARKER_PREFIX.encode() not in b"".join(
        code_blobs([shape_mask["function"], shape_mask["mask"]])
    )

    compiled = configs("mal_compile_config_keras")["config.json"]["compile_config"]["loss"]
    assert compiled["class_name"] == "__lambda__"
    training = configs("mal_training_config_h5")
    assert training["training_config"]["loss"]["class_name"] == "__lambda__"
    assert not code_blobs(training["model_config"])

    with h5py.File(corpus["mal_toplevel_h5"].path, "r") as f:
        assert f.attrs["keras_version"] == km.import_keras().__version__

    # tf.keras list form; HDF5 string attrs stored three ways.
    styles = {
        "mal_tfkeras_py38_h5": ("fixed", np.bytes_),
        "mal_tfkeras_str_h5": ("vlen-utf8", str),
        "mal_tfkeras_function_ref_h5": ("vlen-ascii", str),
        "mal_tfkeras_legacy_function_ref_h5": ("fixed", np.bytes_),
        "mal_toplevel_h5": ("vlen-ascii", str),  # as Keras 3 wrote it, kept by the edit
    }
    for name, (style, py_type) in styles.items():
        if name not in corpus:
            continue
        with h5py.File(corpus[name].path, "r") as f:
            assert km.h5_attr_style(f.attrs, "model_config") == style, name
            assert isinstance(f.attrs["model_config"], py_type), name
    for name in ("mal_tfkeras_str_h5", "mal_tfkeras_defaults_h5"):
        (fn,) = layer_function(configs(name))
        assert isinstance(fn, list) and len(fn) == 3, name
    lam = [n for n in walk_dicts(configs("mal_tfkeras_defaults_h5")) if "function_type" in n][0]
    assert lam["function_type"] == "lambda" and lam["module"] == "os"

    refs = {}
    for name in ("mal_tfkeras_function_ref_h5", "mal_tfkeras_legacy_function_ref_h5"):
        refs[name] = [n for n in walk_dicts(configs(name)) if n.get("function_type")][0]
    modern = refs["mal_tfkeras_function_ref_h5"]
    assert modern["function_type"] == "function"
    assert modern["function"] == {
        "module": "os",
        "class_name": "function",
        "config": "system",
        "registered_name": "function",
    }
    legacy = refs["mal_tfkeras_legacy_function_ref_h5"]
    assert (legacy["function"], legacy["module"]) == ("system", "os")

    tup = json.loads(corpus["mal_tuple_json"].path.read_text(encoding="utf-8"))
    (fn,) = layer_function(tup)
    assert fn["class_name"] == "__tuple__" and fn["items"][0].startswith("4w")

    noref = layer_function(configs("mal_noref_keras"))[0]["config"]["code"]
    assert noref.startswith("Yw") and corpus["mal_noref_keras"].code_python == km.HOST_PYTHON

    if "mal_keras211_raw_h5" in corpus:
        cfg = configs("mal_keras211_raw_h5")["model_config"]
        assert isinstance(cfg["config"], list)  # Keras <= 2.1 Sequential config
        (fn,) = layer_function(cfg)
        assert not fn[0].isascii()  # raw_unicode_escape text, not base64
        assert fn[0].encode("raw_unicode_escape")[0] == 0xE3  # Python 3.6 code with FLAG_REF
    if "mal_tfkeras_py27_h5" in corpus:
        (fn,) = layer_function(configs("mal_tfkeras_py27_h5"))
        assert fn[0].startswith("Yw")  # Python 2 code type byte 'c'


def _load_harmless(keras: Any, sample: Sample) -> Any:
    """Load a clean or benign-lambda sample with the real Keras.  Never a malicious one."""
    if sample.expect == MALICIOUS or sample.marker is not None:
        raise AssertionError(f"refusing to load malicious sample {sample.path}")
    if sample.kind == km.KIND_KERAS3_JSON:
        from keras.src.saving.serialization_lib import SafeModeScope

        with SafeModeScope(False):
            return keras.models.model_from_json(sample.path.read_text(encoding="utf-8"))
    if sample.kind == km.KIND_WEIGHTS_H5:
        model = km.build_dense_model()
        model.load_weights(str(sample.path))
        return model
    if sample.path.suffix == ".h5":
        # Rebuilds the whole architecture (every lambda); skips restoring training_config,
        # which Keras 3.15.1 fails on for compiled legacy .h5 files.
        return keras.saving.load_model(str(sample.path), safe_mode=False, compile=False)
    return keras.saving.load_model(str(sample.path), safe_mode=False)


def test_harmless_samples_reload_with_keras(corpus: dict[str, Sample]) -> None:
    keras = km.import_keras()
    loaded = 0
    failures = []
    with km.quiet_keras():
        for name, sample in corpus.items():
            if sample.expect == MALICIOUS or not sample.reloadable:
                continue
            try:
                model = _load_harmless(keras, sample)
            except Exception as exc:  # collect every failure
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            assert model.layers, name
            loaded += 1
        # Weights-only file matches the full model it came from.
        full = keras.saving.load_model(str(corpus["clean_dense_keras"].path))
        weights_only = _load_harmless(keras, corpus["clean_dense_weights_h5"])
    assert not failures, "\n".join(failures)
    assert loaded >= 25
    for a, b in zip(full.get_weights(), weights_only.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_benign_lambda_behaves(corpus: dict[str, Sample]) -> None:
    keras = km.import_keras()
    x = np.ones((1, 4), dtype="float32")
    with km.quiet_keras():
        model = keras.saving.load_model(str(corpus["benign_tfkeras_h5"].path), safe_mode=False)
        # 2.0 * 1 (lambda) -> Dense kernel 0.5, bias 1: 4 * 2 * 0.5 + 1 = 5
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), [[5.0, 5.0]])
        with pytest.raises(ValueError, match="lambda"):
            keras.saving.load_model(str(corpus["benign_toplevel_keras"].path))  # safe_mode on


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_bundled_examples() -> None:
    keras = km.import_keras()
    clean = Sample(EXAMPLES / "clean_dense.keras", CLEAN, km.KIND_KERAS_ZIP, "example")
    benign = Sample(EXAMPLES / "tensor_math_lambda.keras", BENIGN, km.KIND_KERAS_ZIP, "example")
    malicious_path = EXAMPLES / "malicious_lambda.h5"
    for path in (clean.path, benign.path, malicious_path):
        assert 0 < path.stat().st_size < 32 * 1024, path
    assert not code_blobs(read_configs(clean))
    (benign_code,) = code_blobs(read_configs(benign))
    assert b"system" not in benign_code and b"fixture.py" in benign_code
    malicious = read_configs(
        Sample(malicious_path, MALICIOUS, km.KIND_KERAS3_H5, "example", marker="unused")
    )
    (payload,) = code_blobs(malicious)
    assert km.marker_path(km.EXAMPLE_MARKER_NAME).encode() in payload
    assert km.MARKER_TEXT.encode() in payload
    with km.quiet_keras():
        for sample in (clean, benign):
            assert _load_harmless(keras, sample).layers
    assert (EXAMPLES / "README.md").is_file()


def test_no_marker_file_appeared(corpus: dict[str, Sample]) -> None:
    # Runs last in this module: after building and after reloading every harmless sample.
    # (conftest's session tripwire removes stale markers before the session starts.)
    assert not glob.glob(MARKER_GLOB)
    markers = [sample.marker for sample in corpus.values() if sample.marker is not None]
    assert len(markers) >= 25
    for marker in markers:
        assert marker.startswith(MARKER_GLOB[:-1])
        assert not Path(marker).exists(), marker


def test_build_into_fresh_dir_is_fast_and_silent(tmp_path: Path) -> None:
    """A second build (keras already imported) is quick and runs no payload."""
    start = time.perf_counter()
    samples = km.build_keras_corpus(tmp_path / "again")
    elapsed = time.perf_counter() - start
    assert elapsed < 60, elapsed
    assert not glob.glob(MARKER_GLOB)
    assert {name: s.expect for name, s in samples.items()} == {
        name: s.expect for name, s in km.build_keras_corpus(tmp_path / "third").items()
    }
