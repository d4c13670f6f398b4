"""Judge a Keras Lambda's marshalled code without running it.

Decoding mirrors Keras's ``func_load`` (lenient MIME base64, falling back to
the Keras ≤ 2.1.1 ``raw_unicode_escape`` form); the bytes are then read by our
own marshal reader, never by ``marshal.loads``.  The verdict looks at every
global/attribute name and constant of the code and of its nested code objects,
plus the ``defaults`` and ``closure`` values stored beside it.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelxray.analysis import bytecode, threats
from modelxray.analysis._generated.tensor_vocab import TENSOR_API_NAMES
from modelxray.analysis.marshal_reader import CodeObject, MarshalError, read_code
from modelxray.budget import Budget, BudgetExceeded

MALICIOUS = "malicious"
UNKNOWN = "unknown"
TENSOR_MATH = "tensor-math"
UNREADABLE = "unreadable"

# Names that reach process, file, network, import or eval machinery: a view of the threat
# catalogue (its ``bare`` records and WORDS), name -> "category: reason".  Keras 3 runs lambdas
# with python_utils' globals (``os``, ``marshal``, ``codecs``, ``binascii``, ``types`` are
# bound) and tf.keras merges the module named in the config into the globals, so bare module
# names count as hits.
DANGEROUS_NAMES: dict[str, str] = {
    name: f"{category}: {reason}" for name, category, reason in threats.bare_names()
}

# Words too ordinary to condemn a string constant on their own (they still count as code names).
_ORDINARY_WORDS = frozenset(
    "run call open remove walk modules loads code request types Path spawn io environ kill "
    "locate rename reload signal inspect gc mkdir listdir getenv".split()
)

# What pure tensor math looks like: framework roots and aliases (K, F, tf, np, ...), the public
# tensor APIs of Keras / TensorFlow / PyTorch (generated offline from the libraries themselves by
# scripts/gen_tensor_vocab.py, I/O and process-state names left out) and harmless builtins.
# DANGEROUS_NAMES is checked first and always wins.
TENSOR_VOCABULARY = (
    TENSOR_API_NAMES
    | frozenset(
        """
    keras ops K backend tf tensorflow np numpy jnp jax torch math nn layers activations
    linalg random image signal experimental lax scipy special functional F
    abs absolute add all any arange argmax argmin argsort amax amin average batch_dot bias_add
    broadcast_to cast ceil clip clip_by_value concat concatenate conv cos cosh count_nonzero
    cumprod cumsum diag dot einsum elu equal erf exp expand_dims expm1 eye flatten flip floor
    floordiv gather gather_nd gelu greater greater_equal hard_sigmoid identity l2_normalize
    leaky_relu less less_equal linspace log log1p log_softmax logical_and logical_not logical_or
    logsumexp matmul max maximum mean min minimum mod multiply negative norm normalize not_equal
    one_hot ones ones_like pad permute_dimensions pow power prod reduce_all reduce_any reduce_max
    reduce_mean reduce_min reduce_prod reduce_std reduce_sum relu relu6 repeat repeat_elements
    reshape reverse round rsqrt selu shape sigmoid sign silu sin sinh size slice softmax softplus
    softsign sort split sqrt square squeeze stack std stop_gradient subtract sum swapaxes swish
    take tan tanh tile top_k transpose tril triu unstack var variance where zeros zeros_like
    divide true_divide truediv mul sub neg dtype float32 float16 float64 bfloat16 int32 int64
    int8 uint8 bool_ newaxis pi e inf nan resize resize_images crop_and_resize image_resize
    convert_to_tensor constant range_ sparse_categorical_crossentropy categorical_crossentropy
    binary_crossentropy mse mae l2_loss l1 l2 normal uniform map_fn vectorized_map cond
    while_loop scan segment_sum unsorted_segment_sum bitwise_and bitwise_or rank ndim
    int_shape get_shape as_list epsilon floatx image_data_format moveaxis rollaxis roll
    depth_to_space space_to_depth extract_patches average_pool max_pool conv2d conv1d
    depthwise_conv2d separable_conv2d moments batch_normalization dropout cast_to_floatx
    """.split()
    )
    | frozenset(
        # harmless builtins that lambdas commonly call
        """
    len range int float bool str tuple list dict set frozenset slice zip enumerate map filter
    isinstance min max sum abs round sorted reversed any all print None True False Ellipsis
    """.split()
    )
)

# Sizes that make loading the code exhaust memory or time (MX-KERAS-107).  Estimated from the
# code's constants by bytecode.reconstruct_with_costs: elements or bytes allocated (times the
# loops around the allocation), loop iterations (nested loops multiplied), bits of an integer
# computed by ** or <<.  A tensor-math lambda works on its input tensor, not on constants this
# large: 10**8 list slots are 800 MB, 10**8 Python-level iterations take minutes.
RESOURCE_THRESHOLDS: dict[str, int] = {
    "allocation": 10**8,
    "loop": 10**8,
    "integer": 2**27,
}

_SHELLISH = re.compile(
    r"(?:^|[\s;|&`$(])(?:sh|bash|zsh|curl|wget|nc|ncat|python[0-9.]*|perl|ruby|powershell|"
    r"cmd(?:\.exe)?|rm|chmod|echo|touch|cat|base64|id|whoami|uname)\b(?:\s|$)|\|\s*(?:sh|bash)\b"
    r"|\$\(|`"
)
_URL = re.compile(r"\b(?:https?|ftp|gs|s3|hdfs|file|ssh)://", re.I)
_PATH = re.compile(r"(?:^|\s)(?:/(?:etc|tmp|home|root|usr|var|dev|proc)\b|~/|[A-Za-z]:\\)")


@dataclass
class CodeVerdict:
    level: str
    reasons: list[str] = field(default_factory=list)
    layout: str | None = None
    versions: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    dangerous_names: list[str] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)
    filename: str | None = None
    qualname: str | None = None
    encoding: str | None = None
    error: str | None = None
    # costs at or above RESOURCE_THRESHOLDS: {"kind", "amount", "threshold", "expr", "code"}
    exhaustion: list[dict[str, Any]] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.level,
            "python_layout": self.layout,
            "python_versions": self.versions,
            "names": self.names,
            "strings": self.strings[:50],
            "calls": self.calls[:50],
            "encoding": self.encoding,
        }
        if self.dangerous_names:
            out["dangerous_names"] = self.dangerous_names
        if self.exhaustion:
            out["exhaustion"] = self.exhaustion
        if self.unknown_names:
            out["unknown_names"] = self.unknown_names
        if self.reasons:
            out["reasons"] = self.reasons
        if self.filename is not None:
            out["co_filename"] = self.filename
            out["co_qualname"] = self.qualname
        if self.error:
            out["error"] = self.error
        return {k: v for k, v in out.items() if v not in (None, [], "")}


def decode_keras_code(code: str, max_bytes: int) -> tuple[bytes, str]:
    """Bytes of a Keras code string, decoded exactly as ``func_load`` would decode them."""
    if len(code) > max_bytes * 2:
        raise BudgetExceeded("max_code_blob_bytes", f"code string of {len(code)} characters")
    try:
        return binascii.a2b_base64(code.encode("ascii")), "base64"
    except (UnicodeEncodeError, binascii.Error):
        return code.encode("raw_unicode_escape"), "raw_unicode_escape"


def looks_like_code_string(text: str) -> bool:
    """A cheap test for a string that may hold marshalled code (base64 or raw form)."""
    s = text.lstrip()
    return (s.startswith(("4w", "Yw")) and len(s) >= 24) or s.startswith("\xe3")


def iter_plain_values(value: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 20:
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from iter_plain_values(v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from iter_plain_values(v, depth + 1)
    else:
        yield value


def _classify_string(s: str) -> str | None:
    if _URL.search(s):
        return "URL"
    if _SHELLISH.search(s):
        return "shell command"
    if _PATH.search(s):
        return "file path"
    return None


def exhaustion(costs: list[bytecode.Cost]) -> list[dict[str, Any]]:
    """The estimated costs that reach RESOURCE_THRESHOLDS, largest first (at most 10)."""
    out: list[dict[str, Any]] = []
    for c in costs:
        limit = RESOURCE_THRESHOLDS.get(c.kind)
        if limit is not None and c.amount >= limit and len(out) < 10:
            out.append(
                {
                    "kind": c.kind,
                    "amount": c.amount,
                    "threshold": limit,
                    "expr": c.expr,
                    "code": c.qualname,
                }
            )
    return out


def judge_code(
    raw: bytes,
    budget: Budget,
    *,
    encoding: str = "base64",
    defaults: Any = None,
    closure: Any = None,
) -> CodeVerdict:
    """Decide what loading this code would do: malicious, unknown, tensor math or unreadable."""
    try:
        code: CodeObject = read_code(raw, budget)
    except MarshalError as exc:
        return CodeVerdict(
            UNREADABLE,
            ["the code blob is not a well-formed marshalled code object for any Python version"],
            encoding=encoding,
            error=str(exc)[:300],
        )
    verdict = CodeVerdict(TENSOR_MATH, layout=code.layout, encoding=encoding)
    verdict.filename = code.filename
    verdict.qualname = code.qualname
    try:
        verdict.versions = bytecode.guess_versions(code)
        rebuilt = bytecode.reconstruct_with_costs(
            code, verdict.versions[0] if verdict.versions else None
        )
        verdict.calls = rebuilt.calls
        verdict.exhaustion = exhaustion(rebuilt.costs)
    except Exception as exc:  # noqa: BLE001 - reconstruction is evidence only
        verdict.calls = [f"<could not reconstruct calls: {type(exc).__name__}>"]
    global_names: list[str] = []
    for c in code.walk():
        for n in c.names:
            if n not in global_names:
                global_names.append(n)
    verdict.names = global_names
    strings = [s for s in code.all_strings()]
    side_values = [v for v in iter_plain_values([defaults, closure]) if v is not None]
    verdict.strings = list(dict.fromkeys([*strings, *(str(v) for v in side_values)]))

    dangerous: list[str] = []
    for n in global_names:
        if n in DANGEROUS_NAMES:
            dangerous.append(n)
            verdict.reasons.append(f"uses {n!r}: {DANGEROUS_NAMES[n]}")
    for s in verdict.strings:
        if s in DANGEROUS_NAMES and s not in _ORDINARY_WORDS and s not in dangerous:
            dangerous.append(s)
            verdict.reasons.append(f"names {s!r} in a string constant: {DANGEROUS_NAMES[s]}")
    verdict.dangerous_names = dangerous
    if dangerous:
        verdict.level = MALICIOUS
        return verdict

    unknown = [n for n in global_names if n not in TENSOR_VOCABULARY]
    verdict.unknown_names = unknown
    if unknown:
        verdict.level = UNKNOWN
        verdict.reasons.append(
            "uses names outside the tensor-math vocabulary: " + ", ".join(unknown)
        )
    for s in verdict.strings:
        kind = _classify_string(s)
        if kind:
            verdict.level = UNKNOWN
            verdict.reasons.append(f"carries a {kind} string: {s[:200]!r}")
    return verdict
