"""Which Keras loaders act on a finding: the CVE / version table and the evidence it yields.

A file's recorded ``keras_version`` (``metadata.json``, the ``.h5`` ``keras_version``
attribute) says which Keras *wrote* it, and the attacker controls it; the loader that reads it
may be any version.  So the version never lowers a severity: it is only quoted in the evidence
next to the versions that are affected ("affected: …; this file claims keras X").

Ranges come from the advisories and the fix commits mapped to release tags
(keras-threats.md §3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Advisory:
    id: str
    ghsa: str
    what: str
    affected: str  # human text, as the rule pages state it
    fixed: str
    # Keras 3 (or Keras 2 for CVE-2024-3660) ranges [low, high) the advisory covers.
    ranges: tuple[tuple[Version, Version], ...]
    tf_keras: str = ""  # how tf-keras / Keras 2 loaders behave, when relevant


ADVISORIES: dict[str, Advisory] = {
    a.id: a
    for a in (
        Advisory(
            "CVE-2024-3660",
            "VU#253266",
            "Lambda bytecode runs on load",
            "Keras < 2.13 (no safe_mode at all); tf-keras .h5 and SavedModel loading never "
            "enforce safe_mode (tf-keras <= 2.21); Keras 3 .h5 before 3.11.3",
            "2.13 (safe_mode for .keras only); Keras 3 .h5 from 3.11.3",
            (((0, 0, 0), (2, 13, 0)),),
            "tf-keras .h5 / SavedModel: safe_mode never enforced (PR keras-team/tf-keras#917 open)",
        ),
        Advisory(
            "CVE-2025-1550",
            "GHSA-48g7-3x6r-xfhp",
            "config imports an arbitrary module and symbol",
            "Keras 3.0.0 - 3.8.x",
            "3.9.0",
            (((3, 0, 0), (3, 9, 0)),),
            "tf-keras resolves Lambda function references with an unrestricted import "
            "(PR keras-team/tf-keras#910 open)",
        ),
        Advisory(
            "CVE-2025-8747",
            "GHSA-c9rc-mg46-23w3",
            "safe_mode bypass through allowed Keras functions (keras.utils.get_file)",
            "Keras 3.0.0 - 3.10.x",
            "3.11.0",
            (((3, 0, 0), (3, 11, 0)),),
        ),
        Advisory(
            "CVE-2025-9906",
            "GHSA-36fq-jgmw-4r9c",
            "config switches safe_mode off (enable_unsafe_deserialization / "
            "set_global_attribute) and loads a second model",
            "Keras 3 < 3.11.0",
            "3.11.0",
            (((3, 0, 0), (3, 11, 0)),),
        ),
        Advisory(
            "CVE-2025-9905",
            "GHSA-36rr-ww3j-vrjv",
            "Keras 3 .h5 / .hdf5 loading ignores safe_mode",
            "Keras 3.0.0 - 3.11.2",
            "3.11.3, 3.12.0",
            (((3, 0, 0), (3, 11, 3)),),
            "tf-keras .h5 never enforces safe_mode",
        ),
        Advisory(
            "CVE-2025-49655",
            "",
            "TorchModuleWrapper.from_config calls torch.load(weights_only=False) on the config",
            "Keras 3.11.0 - 3.11.2 (and every Keras 3 >= 3.3 loading with safe_mode=False)",
            "3.11.3 (gated by safe_mode)",
            (((3, 11, 0), (3, 11, 3)),),
        ),
        Advisory(
            "CVE-2025-12058",
            "GHSA-qg93-c7p6-gg7f",
            "StringLookup / IntegerLookup vocabulary read from a file path or URL",
            "Keras 3 up to 3.11.x",
            "3.12.0 (safe_mode refuses a string vocabulary)",
            (((3, 0, 0), (3, 12, 0)),),
        ),
        Advisory(
            "CVE-2026-1462",
            "GHSA-4f3f-g24h-fr8m",
            "TFSMLayer loads an attacker-chosen SavedModel during deserialization",
            "Keras 3 < 3.12.1 and 3.13.0 - 3.13.1",
            "3.12.1, 3.13.2, 3.14.0",
            (((3, 0, 0), (3, 12, 1)), ((3, 13, 0), (3, 13, 2))),
        ),
        Advisory(
            "CVE-2026-1669",
            "GHSA-3m4q-jmj6-r34q",
            "HDF5 external storage / external links read local files into weights",
            "Keras 3 < 3.12.1 and 3.13.0 - 3.13.1",
            "3.12.1, 3.13.2, 3.14.0 (soft/external link rejection completed in 3.15.0)",
            (((3, 0, 0), (3, 12, 1)), ((3, 13, 0), (3, 13, 2))),
        ),
        Advisory(
            "CVE-2026-0897",
            "GHSA-xfhx-r7ww-5995",
            "HDF5 dataset declaring a huge shape exhausts memory",
            "Keras 3.0.0 - 3.12.0 and 3.13.0 (advisory); the load_model / load_weights path "
            "has a shape guard only from 3.15.0",
            "3.12.1, 3.13.2, 3.14.0 (file_editor); 3.15.0 (load path)",
            (((3, 0, 0), (3, 15, 0)),),
        ),
        Advisory(
            "CVE-2026-12479",
            "",
            ".keras asset path traversal (DiskIOStore paths derived from layer names / members)",
            "Keras 3 < 3.15.0 (reported on 3.14.0)",
            "3.15.0",
            (((3, 0, 0), (3, 15, 0)),),
        ),
        Advisory(
            "NPZ-PICKLE",
            "",
            ".keras model.weights.npz loaded with np.load(allow_pickle=True)",
            "Keras 3.0.0 - 3.8.x",
            "3.9.0",
            (((3, 0, 0), (3, 9, 0)),),
        ),
    )
}

_VERSION = re.compile(r"\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str | None) -> Version | None:
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def generation(keras_version: str | None, hint: str = "") -> str:
    """``"keras3"``, ``"tf.keras"`` or ``""`` from a recorded version (or a reader's hint)."""
    if hint:
        return hint
    v = parse_version(keras_version)
    if v is None:
        return ""
    return "keras3" if v[0] >= 3 else "tf.keras"


def claims_affected(cve: str, keras_version: str | None) -> bool | None:
    """Whether the recorded version falls in the advisory's range (None: unknown)."""
    adv = ADVISORIES[cve]
    v = parse_version(keras_version)
    if v is None:
        return None
    return any(lo <= v < hi for lo, hi in adv.ranges)


def cve_evidence(cve: str, keras_version: str | None) -> dict[str, Any]:
    """Evidence fields naming the advisory, who is affected and what the file claims."""
    adv = ADVISORIES[cve]
    claim = keras_version if isinstance(keras_version, str) else None
    ev: dict[str, Any] = {
        "affected": adv.affected,
        "fixed_in": adv.fixed,
    }
    if cve.startswith("CVE-"):
        ev["cve"] = cve
        if adv.ghsa:
            ev["advisory"] = adv.ghsa
    if adv.tf_keras:
        ev["tf_keras"] = adv.tf_keras
    note = f"{cve}: affected: {adv.affected}; fixed in {adv.fixed}"
    if claim:
        hit = claims_affected(cve, claim)
        ev["claimed_keras_version"] = claim
        ev["claimed_version_affected"] = hit
        where = {True: "inside", False: "outside", None: "not comparable to"}[hit]
        note += f"; this file claims keras {claim} ({where} the affected range; the version is "
        note += "written by whoever made the file and does not lower the severity)"
    else:
        note += "; the file records no keras version"
    ev["versions"] = note
    return ev


def safe_mode_note(container: str, keras_version: str | None) -> str:
    """Which loaders run a Lambda from this kind of file without an explicit opt-in."""
    if container == "h5":
        text = (
            "tf-keras / Keras 2 .h5 loading never enforces safe_mode; Keras 3 .h5 loading "
            "ignores safe_mode before 3.11.3 (CVE-2025-9905)"
        )
    elif container == "savedmodel":
        text = "tf-keras SavedModel loading never enforces safe_mode"
    else:
        text = (
            "Keras < 2.13 has no safe_mode (CVE-2024-3660); Keras >= 2.13 / 3.x refuse it unless "
            "safe_mode=False (or a bypass such as CVE-2025-9906 turns it off)"
        )
    if isinstance(keras_version, str):
        text += f"; this file claims keras {keras_version}"
    return text
