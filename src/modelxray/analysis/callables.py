"""Judge a reference to ``module.name`` that a loader would import and call.

Keras configs (``{"module": ..., "class_name": "function", "config": name}``,
tf.keras ``"function"``/``"module"`` pairs) name callables that the loader
resolves with ``importlib``.  The verdict here is shared by every config
analyser.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from modelxray.analysis import threats
from modelxray.model import Severity

KERAS_FAMILY = frozenset(
    {"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "tensorflow", "tf"}
)

# Keras APIs that are not modelling code: downloads, loading/saving, global switches.
KERAS_NON_MODELLING = frozenset(
    {
        "get_file", "load_model", "save_model", "load_weights", "save_weights",
        "enable_unsafe_deserialization", "set_global_attribute", "get_global_attribute",
        "disable_interactive_logging", "register_keras_serializable", "deserialize_keras_object",
        "model_from_json", "model_from_config", "model_from_yaml", "from_config", "TFSMLayer",
        "set_floatx", "set_epsilon", "set_image_data_format", "set_backend", "clear_session",
        "set_dtype_policy", "DiskIOStore", "gfile",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Judged:
    severity: Severity
    reason: str


def judge_reference(module: str | None, name: str | None) -> Judged:
    """How dangerous it is for a loader to import ``module`` and look up ``name`` in it."""
    name = name or ""
    head = name.split(".")[0]
    if module is None or module in ("", "__main__"):
        hit = threats.lookup("builtins", head) if head else None
        if hit is not None:
            return Judged(Severity.CRITICAL, f"{name!r} is a dangerous builtin: {hit.reason}")
        return Judged(Severity.INFO, "a function of the saving script; resolved by name")
    root = module.split(".")[0]
    hit = threats.lookup(module, name)
    if hit is not None:
        target = f"{module}.{name}" if name else module
        return Judged(Severity.CRITICAL, f"{target} ({hit.category}): {hit.reason}")
    if root in ("builtins", "__builtin__"):
        return Judged(Severity.INFO, "builtins function reference (normal for Keras names)")
    if root in KERAS_FAMILY:
        if head in KERAS_NON_MODELLING or name.split(".")[-1] in KERAS_NON_MODELLING:
            return Judged(Severity.CRITICAL, f"{module}.{name} is a Keras non-modelling API")
        return Judged(Severity.INFO, "Keras family reference")
    if not name:
        return Judged(Severity.INFO, f"module {module!r}")
    return Judged(Severity.HIGH, f"{module}.{name} is imported from outside the Keras family")


# --------------------------------------------------------------------------------------------
# Any {"module", "class_name", "registered_name", "config"} reference in a Keras config
# --------------------------------------------------------------------------------------------

# The packages Keras 3 itself accepts (serialization_lib._retrieve_class_or_fn); tf.keras files
# legitimately name tf_keras / tensorflow modules as well.
KERAS3_PACKAGES = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp"})
TF_KERAS_PACKAGES = frozenset({"tf_keras", "tensorflow", "tf"})

# `{"module": "builtins", "class_name": "function", "config": NAME}` is how Keras 3 writes a
# function it resolves in keras.{activations, losses, metrics, initializers, regularizers,
# constraints, optimizers}: the names those modules export (Keras 3.15), plus aliases.
KERAS_FUNCTION_NAMES = frozenset(
    """
    binary_accuracy binary_crossentropy binary_focal_crossentropy categorical_accuracy
    categorical_crossentropy categorical_focal_crossentropy categorical_generalized_cross_entropy
    categorical_hinge celu circle concordance_correlation cosine_similarity ctc dice elu
    exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh hinge huber
    kl_divergence leaky_relu linear log_cosh log_sigmoid log_softmax mean_absolute_error
    mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error mish
    pearson_correlation poisson relu relu6 selu sigmoid silu soft_shrink softmax softplus
    softsign sparse_categorical_accuracy sparse_categorical_crossentropy sparse_plus
    sparse_sigmoid sparse_top_k_categorical_accuracy sparsemax squared_hinge squareplus swish
    tanh tanh_shrink threshold top_k_categorical_accuracy tversky
    mse mae mape msle kld kullback_leibler_divergence logcosh huber_loss cosine_proximity
    accuracy acc crossentropy ce bce l1 l2 l1_l2 orthogonal_regularizer
    """.split()
)

# Keras modules whose functions are not modelling code (downloads, load/save, global state).
KERAS_NON_MODELLING_MODULES = (
    "keras.config", "keras.utils", "keras.saving", "keras.models", "keras.backend",
    "keras.preprocessing", "keras.export", "keras.callbacks", "keras.datasets",
    "keras.distribution", "keras.legacy", "keras.src", "tf_keras.utils", "tf_keras.saving",
    "tf_keras.models", "tf_keras.backend", "tensorflow.io", "tensorflow.keras.utils",
    "tensorflow.keras.models", "tensorflow.saved_model",
)  # fmt: skip

# String values that only a safe_mode-disabling gadget chain carries (CVE-2025-9906).
SAFE_MODE_GADGET_STRINGS = frozenset(
    {"enable_unsafe_deserialization", "safe_mode_saving", "set_global_attribute"}
)

# Serialization markers that are not references.
_SPECIAL_CLASS_NAMES = frozenset(
    {
        "__lambda__", "__tuple__", "__keras_tensor__", "__tensor__", "__numpy__", "__bytes__",
        "__ellipsis__", "__slice__", "__typespec__", "__python_tuple__", "TensorShape",
        "__tf_keras_tensor__", "__passive_serialization__",
    }
)  # fmt: skip

# Verdict kinds (each maps to one MX-KERAS-2xx rule in keras_config).
DANGEROUS = "dangerous"  # dangerous module/builtin                       -> critical
KERAS_API = "keras-api"  # Keras non-modelling API / internals / switches -> critical
OUTSIDE = "outside"  # imported from outside the Keras family             -> high
CUSTOM = "custom"  # a registered custom object (needs the user's code)   -> medium / low
BUILTINS_NAME = "builtins-name"  # builtins function not a Keras name      -> medium


@dataclass(frozen=True)
class RefVerdict:
    kind: str
    severity: Severity
    reason: str
    target: str
    #: The threat catalogue's category when ``kind`` is DANGEROUS (analysis/threats.py).
    category: str | None = None


def _in_modules(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _keras_family(root: str, generation: str) -> bool:
    if root in KERAS3_PACKAGES:
        return True
    return root in TF_KERAS_PACKAGES and generation != "keras3"


def _registered(name: Any) -> bool:
    return isinstance(name, str) and ">" in name


def judge_config_reference(
    module: Any, class_name: Any, registered_name: Any, config: Any, generation: str = ""
) -> RefVerdict | None:
    """Judge what a Keras loader imports for one serialized object; None when it is normal.

    ``generation`` is "keras3", "tf.keras" or "" (unknown).
    """
    if not isinstance(class_name, str) or class_name in _SPECIAL_CLASS_NAMES:
        return None
    if class_name in ("TorchModuleWrapper", "TFSMLayer"):
        return None  # judged as specific layers
    is_fn = class_name == "function"
    name = config if is_fn and isinstance(config, str) else class_name
    if is_fn and not isinstance(config, str):
        name = registered_name if isinstance(registered_name, str) else ""
    head = name.split(".")[0]
    if module is None or module in ("", "__main__"):
        if _registered(registered_name) or _registered(name):
            reg = registered_name if _registered(registered_name) else name
            return RefVerdict(
                CUSTOM,
                Severity.LOW,
                f"{reg!r} is a registered custom object: it only loads when the loading "
                "program registered that name (its code is not in the file)",
                str(reg),
            )
        if module == "__main__" and name:
            return RefVerdict(
                CUSTOM,
                Severity.MEDIUM,
                f"{name!r} from __main__: resolved in whatever script loads the model",
                f"__main__.{name}",
            )
        return None
    if not isinstance(module, str):
        return None
    root = module.split(".")[0]
    target = f"{module}.{name}" if name else module
    hit = threats.lookup(module, name)
    if hit is not None:
        return RefVerdict(
            DANGEROUS,
            Severity.CRITICAL,
            f"{target} ({hit.category}): {hit.reason}",
            target,
            hit.category,
        )
    if root in ("builtins", "__builtin__"):
        if is_fn and (name in KERAS_FUNCTION_NAMES or _registered(name)):
            if _registered(name):
                return RefVerdict(
                    CUSTOM,
                    Severity.LOW,
                    f"{name!r} is a registered custom function (its code is not in the file)",
                    name,
                )
            return None
        real = hasattr(builtins, head)
        return RefVerdict(
            BUILTINS_NAME,
            Severity.MEDIUM,
            f"{name!r} is not a Keras activation/loss/metric/initializer/regularizer/"
            "constraint/optimizer name"
            + (
                "; it is a Python builtin, which Keras < 3.9 resolves and calls"
                if real
                else "; Keras 3.9+ refuses it unless registered, Keras < 3.9 looks it up "
                "in the builtins module"
            ),
            target,
        )
    if _keras_family(root, generation):
        last = name.split(".")[-1]
        if _in_modules(module, ("keras.config", "tf_keras.config")):
            return RefVerdict(
                KERAS_API,
                Severity.CRITICAL,
                f"{target}: keras.config changes global state",
                target,
            )
        if last in KERAS_NON_MODELLING or name in SAFE_MODE_GADGET_STRINGS:
            return RefVerdict(
                KERAS_API,
                Severity.CRITICAL,
                f"{target} is a Keras non-modelling API (download, load/save, global state "
                "or safe-mode switch)",
                target,
            )
        function_like = is_fn or not name[:1].isupper()
        if function_like and _in_modules(module, KERAS_NON_MODELLING_MODULES):
            return RefVerdict(
                KERAS_API,
                Severity.CRITICAL,
                f"{target} is a function of a Keras non-modelling module or of Keras "
                "internals (keras.src.*)",
                target,
            )
        return None
    if root in KERAS3_PACKAGES | TF_KERAS_PACKAGES:
        # tensorflow / tf_keras named by a Keras 3 file: not something Keras 3 writes.
        return RefVerdict(
            OUTSIDE,
            Severity.HIGH,
            f"{target}: a Keras 3 file naming a {root} module (Keras 3 imports only keras, "
            "keras_hub, keras_cv and keras_nlp)",
            target,
        )
    if _registered(registered_name) or _registered(name):
        return RefVerdict(
            CUSTOM,
            Severity.MEDIUM,
            f"{target} is a registered custom object from the package {root!r}: Keras < 3.9 "
            "imports that module while loading (CVE-2025-1550); newer Keras needs it registered",
            target,
        )
    return RefVerdict(
        OUTSIDE,
        Severity.HIGH,
        f"{target} is imported from outside the Keras family (Keras 3.0-3.8 imports any module "
        "a config names, CVE-2025-1550)",
        target,
    )
