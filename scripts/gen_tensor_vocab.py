"""Regenerate src/modelxray/analysis/_generated/tensor_vocab.py: the names of tensor-math APIs.

A Keras Lambda whose code only names tensor math is reported low (MX-KERAS-104); every other
name makes it "not plain tensor math" (MX-KERAS-102).  Which names are tensor math is taken from
the libraries' own public APIs, not written by hand:

* Keras 3 (installed, ``KERAS_BACKEND=torch``): the public members of ``keras.ops`` and its
  sub-namespaces, ``keras.activations``, ``keras.random``, ``keras.backend`` and the tf.keras
  style backend ``keras._tf_keras.keras.backend`` (what Keras 2 lambdas call as ``K.*``).
* PyTorch (installed): the native tensor operators (``torch._C._VariableFunctions``, what
  ``torch.<op>`` resolves to), ``torch.nn.functional``, ``torch.linalg``, ``torch.fft``,
  ``torch.special``, the public ``torch.Tensor`` methods and the ``torch.dtype`` names.
* TensorFlow, without installing it: the generated public-API modules inside the
  ``tensorflow-cpu`` wheel (``pip download tensorflow-cpu==2.21.0 --no-deps``), read as text:
  ``tensorflow/__init__.py`` (top level) and ``tensorflow/_api/v2/{math,nn,linalg,signal,image,
  random,bitwise,dtypes}/__init__.py``.  Only the *names* bound there by ``from X import Y [as
  Z]`` are kept (the same facts as the API golden files ``tensorflow.*.pbtxt``).

Left out (``EXCLUDED`` below, each with its reason): anything that does file, network or device
I/O (``torch.from_file``, ``tf.print``'s ``output_stream``, ``load_library``, ``io``, ``data``,
``saved_model``, ``summary``, ...), that runs Python code outside the traced graph
(``py_function``, ``numpy_function``, ``py_func``), registers callables that outlive the call
(hooks), or changes process-wide state (``set_*`` setters, seeding, ``clear_session``).

Higher-order tensor functions that take a callable (``tf.map_fn``, ``tf.while_loop``,
``tf.cond``, ``keras.ops.vectorized_map`` / ``map`` / ``scan`` / ``fori_loop``,
``custom_gradient``, ``torch.vmap``, ``Tensor.apply_``) ARE kept: they only call the callables
they are handed, and in a Lambda every callable is either nested code (walked and judged with
the lambda) or reached through a name (which must itself be in this vocabulary, and is checked
against ``lambda_code.DANGEROUS_NAMES`` first).  The dangerous-name check always wins over this
vocabulary at run time.

Usage::

    pip download tensorflow-cpu==2.21.0 --no-deps -d /tmp/tfwheel
    python scripts/gen_tensor_vocab.py --tf-wheel /tmp/tfwheel/tensorflow_cpu-*.whl
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import textwrap
import zipfile
from pathlib import Path
from types import ModuleType

os.environ.setdefault("KERAS_BACKEND", "torch")

OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "modelxray"
    / "analysis"
    / "_generated"
    / "tensor_vocab.py"
)

TF_NAMESPACES = ("", "math", "nn", "linalg", "signal", "image", "random", "bitwise", "dtypes")

# name -> why it is not tensor math.  Applied to every source.
EXCLUDED: dict[str, str] = {
    **dict.fromkeys(
        (
            "from_file",
            "load",
            "save",
            "print",
            "print_tensor",
            "read_file",
            "write_file",
            "load_library",
            "load_op_library",
            "io",
            "data",
            "saved_model",
            "summary",
            "gfile",
            "hub",
            "package",
            "jit",
            "library",
            "lite",
            "debugging",
            "profiler",
            "tpu",
            "distribute",
            "config",
            "compat",
            "sysconfig",
            "test",
            "audio",
            "feature_column",
            "queue",
            "train",
            "autograph",
            "xla",
            "mlir",
            "module_load",
            "share_memory_",
            "pin_memory",
            "cuda",
            "data_ptr",
            "const_data_ptr",
            "untyped_storage",
            "storage",
            "storage_type",
            "get_device",
            "import_graph_def",
            "version",
            "errors",
            "executing_eagerly",
            "device",
            "get_logger",
            "Module",
        ),
        "file, network, device or process I/O",
    ),
    **dict.fromkeys(
        ("py_function", "numpy_function", "py_func", "eager_py_func", "function", "Variable"),
        "runs Python code outside the traced graph (or creates persistent state)",
    ),
    **dict.fromkeys(
        (
            "register_hook",
            "register_post_accumulate_grad_hook",
            "init_scope",
            "register_tensor_conversion_function",
            "RegisterGradient",
            "variable_creator_scope",
        ),
        "registers callables or scopes that outlive the call",
    ),
    **dict.fromkeys(
        ("raw_ops", "lookup", "graph_util"),
        "namespace of raw kernels / file-backed tables (ReadFile, WriteFile, PyFunc, "
        "TextFileInitializer)",
    ),
    **dict.fromkeys(
        ("get", "deserialize", "serialize"),
        "Keras object (de)serialisation: resolves objects by name or config, a gadget path",
    ),
    **dict.fromkeys(
        (
            "clear_session",
            "manual_seed",
            "seed",
            "initial_seed",
            "get_rng_state",
            "set_rng_state",
            "reset_uids",
            "get_uid",
            "batch_set_value",
            "set_value",
            "update",
            "update_add",
            "update_sub",
            "moving_average_update",
            "variable",
            "random_normal_variable",
            "random_uniform_variable",
            "name_scope",
            "manual_variable_initialization",
            "eval",
            "get_value",
            "batch_get_value",
            "gradients",
            "rnn",
            "placeholder",
        ),
        "changes or reads process-wide or session state",
    ),
}
_STATE_SETTER = re.compile(r"^set_")  # every set_* setter changes process-wide state


def excluded(name: str) -> str | None:
    if name in EXCLUDED:
        return EXCLUDED[name]
    if _STATE_SETTER.match(name):
        return "changes process-wide state"
    return None


def public(names: list[str] | tuple[str, ...] | set[str]) -> set[str]:
    return {n for n in names if n.isidentifier() and not n.startswith("_")}


def module_names(mod: ModuleType) -> set[str]:
    """Public members of a namespace module, minus the modules it merely imported."""
    out = set()
    for name in public(dir(mod)):
        value = getattr(mod, name, None)
        if inspect.ismodule(value):
            # A sub-namespace of the same library is part of the API path (keras.ops.nn);
            # stdlib/third-party modules imported by the file are not.
            if not value.__name__.startswith(mod.__name__.split(".")[0] + "."):
                continue
        out.add(name)
    return out


def keras_names() -> tuple[str, set[str]]:
    import keras

    mods = [
        "keras.ops",
        "keras.ops.nn",
        "keras.ops.numpy",
        "keras.ops.linalg",
        "keras.ops.image",
        "keras.ops.math",
        "keras.ops.core",
        "keras.activations",
        "keras.random",
        "keras.backend",
        "keras._tf_keras.keras.backend",
    ]
    names: set[str] = set()
    for m in mods:
        try:
            names |= module_names(importlib.import_module(m))
        except ImportError:
            continue
    return f"keras=={keras.__version__}", names


def torch_names() -> tuple[str, set[str]]:
    import torch
    import torch.nn.functional as functional

    names = public(dir(torch._C._VariableFunctions))
    names |= {  # functions torch.nn.functional defines (not its typing/stdlib imports)
        n
        for n in public(dir(functional))
        if callable(getattr(functional, n))
        and (getattr(getattr(functional, n), "__module__", None) or "").startswith("torch")
        and not inspect.isclass(getattr(functional, n))
    }
    for sub in (torch.linalg, torch.fft, torch.special):
        names |= {n for n in public(dir(sub)) if callable(getattr(sub, n))}
    names |= {n for n in public(dir(torch.Tensor)) if callable(getattr(torch.Tensor, n, None))}
    names |= {n for n in public(dir(torch)) if isinstance(getattr(torch, n), torch.dtype)}
    names |= {"nn", "functional", "linalg", "fft", "special", "Tensor", "tensor", "dtype"}
    return f"torch=={torch.__version__.split('+')[0]}", names


_IMPORT = re.compile(r"^from (\S+) import (\w+)(?: as (\w+))?", re.M)


def tf_names(wheel: Path) -> tuple[str, set[str]]:
    m = re.match(r"(tensorflow(?:[_-]cpu)?)-([^-]+)-", wheel.name)
    version = m.group(2) if m else "?"
    names: set[str] = set()
    with zipfile.ZipFile(wheel) as z:
        for ns in TF_NAMESPACES:
            member = "tensorflow/__init__.py" if not ns else f"tensorflow/_api/v2/{ns}/__init__.py"
            text = z.read(member).decode("utf-8")
            for hit in _IMPORT.finditer(text):
                bound = hit.group(3) or hit.group(2)
                if not bound.startswith("_"):
                    names.add(bound)
    names |= {n for n in TF_NAMESPACES if n}
    return f"tensorflow-cpu=={version} wheel API modules", names


def render(sources: list[tuple[str, set[str]]], dropped: dict[str, str]) -> str:
    parts = [
        '"""Names of tensor-math APIs a benign Keras Lambda may use (MX-KERAS-104 vocabulary).\n\n'
        "GENERATED by scripts/gen_tensor_vocab.py -- do not edit.  Sources:\n"
        + "".join(f"  {label}\n" for label, _ in sources)
        + "Names that do I/O, run Python outside the graph or change process state were left\n"
        "out (see EXCLUDED in the script).  lambda_code.DANGEROUS_NAMES always wins over these.\n"
        '"""\n',
        "from __future__ import annotations\n",
    ]
    consts = []
    for label, names in sources:
        const = re.sub(r"\W", "_", label.split("==")[0].split("-")[0]).upper() + "_NAMES"
        consts.append(const)
        body = textwrap.fill(" ".join(sorted(names)), width=96)
        parts.append(
            f"# {label}: {len(names)} names\n"
            f'{const} = frozenset(\n    """\n{body}\n""".split()\n)\n'
        )
    parts.append("TENSOR_API_NAMES: frozenset[str] = " + " | ".join(consts) + "\n")
    body = textwrap.fill(" ".join(sorted(dropped)), width=96)
    parts.append(
        "# Public names the sources define that were left out (I/O, code outside the graph,\n"
        f"# process state): {len(dropped)}.\n"
        f'EXCLUDED_NAMES = frozenset(\n    """\n{body}\n""".split()\n)\n'
    )
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tf-wheel", type=Path, required=True, help="a downloaded tensorflow wheel")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    sources = [keras_names(), torch_names(), tf_names(args.tf_wheel)]
    dropped: dict[str, str] = {}
    kept: list[tuple[str, set[str]]] = []
    for label, names in sources:
        keep = set()
        for n in names:
            why = excluded(n)
            if why:
                dropped[n] = why
            else:
                keep.add(n)
        kept.append((label, keep))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    init = args.out.parent / "__init__.py"
    if not init.exists():
        init.write_text('"""Tables generated offline by scripts/ (do not edit by hand)."""\n')
    args.out.write_text(render(kept, dropped), encoding="utf-8")
    total = len(set().union(*(n for _, n in kept)))
    print(f"wrote {args.out}: {total} names kept, {len(dropped)} left out")


if __name__ == "__main__":
    main()
