"""Policies: what a team blocks, warns on, allows and suppresses — and the verdicts that follow.

A policy is data read from ``modelxray.toml`` (or ``[tool.modelxray]`` in
``pyproject.toml``), validated strictly: unknown keys, wrong types and unknown
rule IDs are errors with the key path in the message.  It never loads code.

Applying a policy to a report gives each file a verdict — ``allowed``,
``blocked`` or ``error`` — and the run the worst of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from modelxray.compat import tomllib
from modelxray.model import (
    ALLOWED_BY,
    Disposition,
    FileResult,
    FileStatus,
    Finding,
    FormatName,
    Gate,
    Report,
    Severity,
    Verdict,
)

if TYPE_CHECKING:
    import datetime as _dt

    from modelxray.policy.entries import AllowEntry as AllowEntry
    from modelxray.policy.entries import RuleSetting as RuleSetting
    from modelxray.policy.entries import Suppression as Suppression

# datetime, fnmatch and the TOML parser load only when a policy needs them: the default
# Policy() must cost nothing at start-up.


POLICY_FILE = "modelxray.toml"


class PolicyError(ValueError):
    """The policy file is invalid; the message names the key and what is wrong."""


# A policy's entries (rule settings, allow/deny entries, suppressions) are classes of their
# own module, loaded with the first policy that has one: the default Policy() needs none.
_ENTRIES = ("AllowEntry", "RuleSetting", "Suppression")


def __getattr__(name: str) -> Any:
    if name in _ENTRIES:
        from modelxray.policy import entries

        return getattr(entries, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Policy:
    """What blocks, what is allowed and what is suppressed (``.modelxray.toml``)."""

    fail_on: Severity | None = Severity.HIGH
    report_only: bool = False
    fail_on_unscannable: bool = True
    fail_on_unsupported: bool = False
    approved_formats: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: dict[str, RuleSetting] = field(default_factory=dict)
    allow_pickle_globals: tuple[AllowEntry, ...] = ()
    deny_pickle_globals: tuple[AllowEntry, ...] = ()
    allow_keras_modules: tuple[AllowEntry, ...] = ()
    deny_keras_modules: tuple[AllowEntry, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    source: str | None = None

    def gate(self) -> Gate:
        """The part of the policy a report shows and decides the run with, as plain values."""
        return Gate(
            fail_on=self.fail_on,
            report_only=self.report_only,
            fail_on_unscannable=self.fail_on_unscannable,
            fail_on_unsupported=self.fail_on_unsupported,
            source=self.source,
            fingerprint=self.fingerprint,
        )

    @property
    def needs_hashes(self) -> bool:
        return bool(self.suppressions)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what the policy decides (every field but ``source``), stable across runs.

        Reports name it beside the source file, so a verdict can be tied to the exact policy
        that produced it (command-line overrides included).
        """
        import hashlib
        import json

        def plain(value: Any) -> Any:
            if isinstance(value, Severity):
                return str(value)
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in sorted(value.items())}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            return str(value)  # dates

        data = {k: plain(getattr(self, k)) for k in self.__dataclass_fields__ if k != "source"}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def loosened_by(self, other: Policy) -> list[str]:
        """How ``other`` would let through what this policy stops (empty: it would not)."""
        out: list[str] = []
        mine, theirs = self.fail_on, other.fail_on
        if theirs is None and mine is not None:
            out.append("fail_on = none")
        elif mine is not None and theirs is not None and theirs > mine:
            out.append(f"fail_on = {theirs} (here {mine})")
        for key in ("fail_on_unscannable",):
            if getattr(self, key) and not getattr(other, key):
                out.append(f"{key} = false")
        if other.report_only and not self.report_only:
            out.append("report_only = true")
        if other.fail_on_unsupported is False and self.fail_on_unsupported:
            out.append("fail_on_unsupported = false")
        for rule_id, setting in sorted(other.rules.items()):
            if setting.state != Disposition.BLOCK or setting.severity is not None:
                if self.rules.get(rule_id) != setting:
                    out.append(f"rules.{rule_id} = {setting.state}")
        for key in ("allow_pickle_globals", "allow_keras_modules", "suppressions", "exclude"):
            extra = set(getattr(other, key)) - set(getattr(self, key))
            if extra:
                out.append(f"{key}: {len(extra)} entr{'y' if len(extra) == 1 else 'ies'}")
        if other.include and other.include != self.include:
            out.append("include narrows what is scanned")
        return out

    def rule_state(self, rule_id: str) -> Disposition:
        """``block``, ``warn`` or ``off``: what the policy does with this rule's findings."""
        setting = self.rules.get(rule_id)
        return setting.state if setting else Disposition.BLOCK

    def pattern_base(self) -> str:
        """The folder include/exclude patterns are relative to: the policy file's folder,
        or the current folder for a policy that came from no file."""
        if self.source:
            return os.path.dirname(os.path.abspath(self.source))
        return os.getcwd()

    def selects(self, path: str, *, folder: bool = False) -> bool:
        """Whether include/exclude patterns let this path be scanned.

        The path is matched in one form however it was typed (``./models/x.pkl``,
        ``models/x.pkl`` or absolute): relative to :meth:`pattern_base`, with ``/``
        separators and no leading ``./``; a path outside that folder is matched by its
        absolute path.  See :meth:`_PathForms.match` for the patterns.  A folder (one that
        could not be listed) is judged by ``exclude`` only: what it holds is unknown.
        """
        if not self.include and not self.exclude:
            return True
        where = _PathForms(path, self.pattern_base())
        if self.include and not folder and not any(where.match(p) for p in self.include):
            return False
        return not any(where.match(p) for p in self.exclude)


class _PathForms:
    """One path in the forms patterns are matched against.

    ``rel``: relative to the pattern base in POSIX form (no ``./``), or None when the path
    lies outside the base; ``full``: absolute, in POSIX form.
    """

    def __init__(self, path: str, base: str) -> None:
        full = os.path.abspath(path)
        inside = full == base or full.startswith(base.rstrip(os.sep) + os.sep)
        self.rel = os.path.relpath(full, base).replace(os.sep, "/") if inside else None
        self.full = full.replace(os.sep, "/")

    def match(self, pattern: str) -> bool:
        """Shell-style (``fnmatch``) matching, like ``.gitignore`` in three ways.

        * A pattern is written relative to the policy's folder (a leading ``./`` and a
          trailing ``/`` are ignored) or as an absolute path; ``*`` also matches ``/``.
        * A pattern that names a folder matches every file under it (``models`` or
          ``models/`` selects ``models/a/b.pkl``).
        * A pattern without ``/`` matches any one name in the path below the policy's
          folder (``*.txt``, ``__pycache__``); outside that folder, the file's name.
        """
        import fnmatch

        pat = pattern.replace(os.sep, "/")
        while pat.startswith("./"):
            pat = pat[2:]
        pat = pat.rstrip("/") or "/"
        if "/" not in pat:
            names = self.rel.split("/") if self.rel is not None else [self.full.rsplit("/")[-1]]
            return any(fnmatch.fnmatch(name, pat) for name in names)
        target = self.full if os.path.isabs(pattern) else self.rel
        if target is None:
            return False
        parts = target.split("/")
        prefixes = ("/".join(parts[:i]) or "/" for i in range(len(parts), 0, -1))
        return any(fnmatch.fnmatch(prefix, pat) for prefix in prefixes)


# ---------------------------------------------------------------------------- loading


_TOP_KEYS = {
    "fail_on", "report_only", "fail_on_unscannable", "fail_on_unsupported", "approved_formats",
    "include", "exclude", "rules", "allow", "deny", "suppress",
}  # fmt: skip
_LIST_KEYS = {"pickle_globals", "keras_modules"}


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PolicyError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    _expect(value, list, where)
    return tuple(_expect(v, str, f"{where}[{i}]") for i, v in enumerate(value))


_RULE_STATES = (Disposition.BLOCK, Disposition.WARN, Disposition.OFF)


def _format_list(value: Any, where: str) -> tuple[str, ...]:
    """Format names as a scan records them (``FormatName``); an unknown name is an error."""
    names = _str_list(value, where)
    for i, name in enumerate(names):
        try:
            FormatName.parse(name, "format")
        except ValueError as exc:
            raise PolicyError(f"{where}[{i}]: {exc}") from None
    return names


def _severity(value: Any, where: str, allow_none: bool = False) -> Severity | None:
    _expect(value, str, where)
    if allow_none and value.lower() == "none":
        return None
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _entries(value: Any, where: str, key: str) -> tuple[AllowEntry, ...]:
    from modelxray.policy.entries import AllowEntry

    _expect(value, list, where)
    out = []
    for i, item in enumerate(value):
        w = f"{where}[{i}]"
        _expect(item, dict, w)
        unknown = set(item) - {key, "reason"}
        if unknown:
            raise PolicyError(f"{w}: unknown key(s) {', '.join(sorted(unknown))}")
        if key not in item:
            raise PolicyError(f"{w}: missing {key!r}")
        reason = _expect(item.get("reason", ""), str, f"{w}.reason").strip()
        if not reason:
            raise PolicyError(f"{w}: a reason is required")
        out.append(AllowEntry(_expect(item[key], str, f"{w}.{key}"), reason))
    return tuple(out)


def _lists(table: Any, where: str, check: bool = True) -> dict[str, tuple[AllowEntry, ...]]:
    _expect(table, dict, where)
    unknown = set(table) - _LIST_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    lists = {
        "pickle_globals": _entries(table.get("pickle_globals", []), f"{where}.pickle_globals",
                                   "global"),
        "keras_modules": _entries(table.get("keras_modules", []), f"{where}.keras_modules",
                                  "module"),
    }  # fmt: skip
    if where == "allow" and check:
        for key, field_name in (("pickle_globals", "global"), ("keras_modules", "module")):
            for i, entry in enumerate(lists[key]):
                _check_allow_entry(entry.target, f"allow.{key}[{i}].{field_name}")
    return lists


def _check_allow_entry(target: str, where: str) -> None:
    """An allow entry names one exact object (or, for Keras, one package of the team's own) and
    never something the threat catalogue condemns: such an entry is refused rather than
    silently ignored.  A reviewed file that needs it is accepted by hash (``[[suppress]]``).

    The judgement is the one the entry would meet when applied: for a pickle global, the pickle
    policy's deny view of the catalogue on the exact ``(module, name)`` the entry names; for a
    Keras package, the catalogue's record for it or a package above it.
    """
    from modelxray.analysis import threats
    from modelxray.analysis.pickle.globals_policy import DEFAULT_POLICY

    parts = target.split(".")
    if not target or not all(p.isidentifier() for p in parts):
        raise PolicyError(
            f"{where}: {target!r} is not a dotted name (an allow entry names one exact "
            "object or package, never a pattern)"
        )
    module, _, name = target.rpartition(".")
    if where.startswith("allow.pickle_globals"):
        if not module:
            raise PolicyError(f"{where}: {target!r} names no object (write module.name)")
        judged = DEFAULT_POLICY.classify(module, name)
        found = (judged.family, judged.reason) if judged.category == "dangerous" else None
    else:
        hit = threats.module_threat(target) or (threats.lookup(module, name) if module else None)
        found = (hit.category, hit.reason) if hit is not None else None
    if found is not None:
        family, why = found
        why = why.removeprefix(f"{target}: ")
        raise PolicyError(
            f"{where}: {target} is in the threat catalogue ({family}: {why}); an allow "
            "entry cannot clear it (accept one reviewed file with [[suppress]] instead)"
        )


def _suppressions(value: Any) -> tuple[Suppression, ...]:
    import datetime as _dt

    from modelxray.policy.entries import Suppression
    from modelxray.rules import ALL_RULES

    _expect(value, list, "suppress")
    out = []
    for i, item in enumerate(value):
        w = f"suppress[{i}]"
        _expect(item, dict, w)
        unknown = set(item) - {"sha256", "rule", "reason", "expires"}
        if unknown:
            raise PolicyError(f"{w}: unknown key(s) {', '.join(sorted(unknown))}")
        for required in ("sha256", "rule", "reason"):
            if required not in item:
                raise PolicyError(f"{w}: missing {required!r}")
        digest = _expect(item["sha256"], str, f"{w}.sha256").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise PolicyError(f"{w}.sha256: not a SHA-256 hex digest: {digest!r}")
        rule = _expect(item["rule"], str, f"{w}.rule").upper()
        if rule != "*" and rule not in ALL_RULES:
            raise PolicyError(f"{w}.rule: unknown rule {rule!r}")
        reason = _expect(item["reason"], str, f"{w}.reason").strip()
        if not reason:
            raise PolicyError(f"{w}.reason: a reason is required")
        expires = item.get("expires")
        if expires is not None:
            if isinstance(expires, str):
                try:
                    expires = _dt.date.fromisoformat(expires)
                except ValueError:
                    raise PolicyError(f"{w}.expires: not a date: {expires!r}") from None
            if isinstance(expires, _dt.datetime):
                expires = expires.date()
            _expect(expires, _dt.date, f"{w}.expires")
        out.append(Suppression(digest, rule, reason, expires))
    return tuple(out)


def _rules(value: Any) -> dict[str, RuleSetting]:
    from modelxray.policy.entries import RuleSetting
    from modelxray.rules import ALL_RULES

    _expect(value, dict, "rules")
    out = {}
    for rule_id, setting in value.items():
        w = f"rules.{rule_id}"
        rid = rule_id.upper()
        if rid not in ALL_RULES:
            raise PolicyError(f"{w}: unknown rule {rule_id!r} (see `modelxray rules`)")
        if isinstance(setting, str):
            setting = {"state": setting}
        _expect(setting, dict, w)
        unknown = set(setting) - {"state", "severity"}
        if unknown:
            raise PolicyError(f"{w}: unknown key(s) {', '.join(sorted(unknown))}")
        state = _expect(setting.get("state", Disposition.BLOCK), str, f"{w}.state")
        if state not in _RULE_STATES:
            raise PolicyError(f"{w}.state: expected 'block', 'warn' or 'off', got {state!r}")
        sev = setting.get("severity")
        out[rid] = RuleSetting(state, _severity(sev, f"{w}.severity") if sev is not None else None)
    return out


def policy_from_dict(
    data: dict[str, Any], source: str | None = None, *, check_allow: bool = True
) -> Policy:
    """The policy ``data`` describes; ``check_allow=False`` reads allow entries that name
    threats or patterns instead of refusing them (only to judge a policy file met inside
    scanned content, which is never applied)."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"unknown key(s) {', '.join(sorted(unknown))}")
    allow = _lists(data.get("allow", {}), "allow", check_allow)
    deny = _lists(data.get("deny", {}), "deny")

    def flag(key: str, default: bool) -> bool:
        return bool(_expect(data.get(key, default), bool, key))

    return Policy(
        fail_on=_severity(data.get("fail_on", "high"), "fail_on", allow_none=True),
        report_only=flag("report_only", False),
        fail_on_unscannable=flag("fail_on_unscannable", True),
        fail_on_unsupported=flag("fail_on_unsupported", False),
        approved_formats=_format_list(data.get("approved_formats", []), "approved_formats"),
        include=_str_list(data.get("include", []), "include"),
        exclude=_str_list(data.get("exclude", []), "exclude"),
        rules=_rules(data.get("rules", {})),
        allow_pickle_globals=allow["pickle_globals"],
        deny_pickle_globals=deny["pickle_globals"],
        allow_keras_modules=allow["keras_modules"],
        deny_keras_modules=deny["keras_modules"],
        suppressions=_suppressions(data.get("suppress", [])),
        source=source,
    )


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The policy as the data :func:`policy_from_dict` reads (``source`` aside).

    ``policy_from_dict(policy_to_dict(p), p.source) == p``: how a policy crosses into an
    isolated child process (JSON, never pickle).
    """

    def entries(items: tuple[AllowEntry, ...], key: str) -> list[dict[str, str]]:
        return [{key: e.target, "reason": e.reason} for e in items]

    def rule(setting: RuleSetting) -> dict[str, str]:
        out = {"state": str(setting.state)}
        if setting.severity is not None:
            out["severity"] = str(setting.severity)
        return out

    def suppression(s: Suppression) -> dict[str, str]:
        out = {"sha256": s.sha256, "rule": s.rule, "reason": s.reason}
        if s.expires is not None:
            out["expires"] = s.expires.isoformat()
        return out

    return {
        "fail_on": str(policy.fail_on) if policy.fail_on is not None else "none",
        "report_only": policy.report_only,
        "fail_on_unscannable": policy.fail_on_unscannable,
        "fail_on_unsupported": policy.fail_on_unsupported,
        "approved_formats": list(policy.approved_formats),
        "include": list(policy.include),
        "exclude": list(policy.exclude),
        "rules": {rid: rule(setting) for rid, setting in policy.rules.items()},
        "allow": {
            "pickle_globals": entries(policy.allow_pickle_globals, "global"),
            "keras_modules": entries(policy.allow_keras_modules, "module"),
        },
        "deny": {
            "pickle_globals": entries(policy.deny_pickle_globals, "global"),
            "keras_modules": entries(policy.deny_keras_modules, "module"),
        },
        "suppress": [suppression(s) for s in policy.suppressions],
    }


def load_policy(path: str, *, check_allow: bool = True) -> Policy:
    """Read a ``modelxray.toml`` or a ``pyproject.toml`` (its ``[tool.modelxray]`` table)."""
    toml = tomllib()
    if os.path.exists(path) and not os.path.isfile(path):
        # A FIFO or device would block the read (or never end): never opened.
        raise PolicyError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as f:
            data = toml.load(f)
    except toml.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("modelxray", {})
        _expect(data, dict, "[tool.modelxray]")
    try:
        return policy_from_dict(data, source=path, check_allow=check_allow)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


POLICY_FILE_NAMES = (POLICY_FILE, "pyproject.toml")
# The guard's explicit configuration: a path in this variable, else the user's and the
# site's configuration folders.  Never the working directory, never the model's folder.
POLICY_ENV_VAR = "MODELXRAY_POLICY"
_PROJECT_ROOT_MARKERS = (".git", ".hg", ".svn")


def policy_file_in(folder: str) -> str | None:
    """The policy file a folder holds: modelxray.toml, else a pyproject.toml with the table."""
    candidate = os.path.join(folder, POLICY_FILE)
    if os.path.isfile(candidate):
        return candidate
    pyproject = os.path.join(folder, "pyproject.toml")
    if os.path.isfile(pyproject) and _has_modelxray_table(pyproject):
        return pyproject
    return None


def _has_modelxray_table(pyproject: str) -> bool:
    toml = tomllib()
    try:
        with open(pyproject, "rb") as f:
            return "modelxray" in toml.load(f).get("tool", {})
    except (OSError, toml.TOMLDecodeError):
        return False


def find_policy(start: str = ".") -> Policy | None:
    """The working project's policy: the nearest policy file from ``start`` up to the
    project root (the first folder holding ``.git``, ``.hg`` or ``.svn``), like ruff and black.

    Only the directory the user works in chooses the policy -- never a scanned path, whose
    content must not choose its own gate.
    """
    here = os.path.abspath(start)
    while True:
        found = policy_file_in(here)
        if found is not None:
            return load_policy(found)
        if any(os.path.exists(os.path.join(here, m)) for m in _PROJECT_ROOT_MARKERS):
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def configured_policy_path() -> str | None:
    """The policy file named by explicit configuration, for code that loads models (the guard).

    ``$MODELXRAY_POLICY``, else ``$XDG_CONFIG_HOME/modelxray/policy.toml`` (default
    ``~/.config``), else ``policy.toml`` under each ``$XDG_CONFIG_DIRS`` folder (default
    ``/etc/xdg``) and ``/etc/modelxray``.  A variable naming a missing file is an error: a
    typo must not silently fall back to the defaults.
    """
    named = os.environ.get(POLICY_ENV_VAR, "").strip()
    if named:
        if not os.path.isfile(named):
            raise PolicyError(f"{POLICY_ENV_VAR}={named}: no such policy file")
        return named
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    site = [d for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep) if d]
    for folder in (home, *site):
        candidate = os.path.join(folder, "modelxray", "policy.toml")
        if os.path.isfile(candidate):
            return candidate
    candidate = os.path.join(os.sep, "etc", "modelxray", "policy.toml")
    return candidate if os.path.isfile(candidate) else None


def configured_policy() -> Policy | None:
    path = configured_policy_path()
    return load_policy(path) if path is not None else None


def embedded_policy(path: str, applied: Policy) -> tuple[str, dict[str, Any], bool] | None:
    """Judge a policy file met *inside* scanned content: it is never applied.

    Returns (message, evidence, loosens) for a policy file other than the one in effect, or
    None.  ``loosens`` says whether it would have let through what the applied policy stops
    (a repository shipping its own lenient gate is the attack this catches).
    """
    name = os.path.basename(path)
    if name not in POLICY_FILE_NAMES:
        return None
    if applied.source and os.path.realpath(applied.source) == os.path.realpath(path):
        return None  # the file that is in effect, met again while scanning its own project
    if name == "pyproject.toml" and not _has_modelxray_table(path):
        return None
    try:
        # allow entries for threats are read, not refused: they are the loosening to report
        embedded = load_policy(path, check_allow=False)
    except (PolicyError, OSError) as exc:
        return (
            f"policy file inside the scanned content is ignored (and invalid: {exc})"[:500],
            {"applied_policy": applied.source or "built-in defaults"},
            False,
        )
    loosening = applied.loosened_by(embedded)
    evidence: dict[str, Any] = {
        "applied_policy": applied.source or "built-in defaults",
        "applied_fingerprint": applied.fingerprint,
    }
    if loosening:
        evidence["would_loosen"] = loosening
        return (
            "policy file inside the scanned content is ignored; it would loosen the gate: "
            + "; ".join(loosening),
            evidence,
            True,
        )
    return ("policy file inside the scanned content is ignored", evidence, False)


# ---------------------------------------------------------------------------- applying


def _disposition(policy: Policy, finding: Finding) -> Disposition:
    """The rule's state for this finding, after applying the policy's severity override."""
    setting = policy.rules.get(finding.rule_id)
    if setting is not None and setting.severity is not None:
        finding.severity = setting.severity
    return policy.rule_state(finding.rule_id)


def _today() -> _dt.date:
    import datetime as _dt

    return _dt.date.today()


def file_verdict(policy: Policy, result: FileResult, today: _dt.date | None = None) -> Verdict:
    """Apply rule states, severity overrides and suppressions to one file's findings.

    ``today`` (for suppression expiry) defaults to the current date.
    """
    from modelxray.rules import scan as scan_rules

    if today is None:
        # Only suppressions read the date: without any, datetime is never imported.
        today = _today() if policy.suppressions else cast("_dt.date", None)
    kept: list[Finding] = []
    for f in result.findings:
        state = _disposition(policy, f)
        if state == Disposition.OFF:
            continue
        cleared = _allowed_by(policy, f)
        if cleared is not None:
            f.disposition = Disposition.SUPPRESSED
            f.evidence = {**f.evidence, "suppressed_because": cleared}
            result.suppressed.append(f)
            continue
        supp = next(
            (
                s
                for s in policy.suppressions
                if result.sha256 and s.sha256 == result.sha256 and s.rule in ("*", f.rule_id)
            ),
            None,
        )
        if supp is not None:
            if not supp.expired(today):
                f.disposition = Disposition.SUPPRESSED
                f.evidence = {**f.evidence, "suppressed_because": supp.reason}
                result.suppressed.append(f)
                continue
            f.evidence = {**f.evidence, "expired_suppression": supp.reason}
        f.disposition = state
        kept.append(f)
    for s in policy.suppressions:
        if s.sha256 == result.sha256 and s.expired(today):
            kept.append(
                Finding(
                    rule_id=scan_rules.SUPPRESSION_EXPIRED.id,
                    severity=scan_rules.SUPPRESSION_EXPIRED.severity,
                    confidence=scan_rules.SUPPRESSION_EXPIRED.confidence,
                    location=result.findings[0].location if result.findings else _loc(result),
                    message=f"suppression of {s.rule} expired on {s.expires}: {s.reason}",
                    evidence={"rule": s.rule, "expires": str(s.expires), "reason": s.reason},
                    help_uri=scan_rules.SUPPRESSION_EXPIRED.help_uri,
                    disposition=Disposition.BLOCK,
                )
            )
    if policy.approved_formats and result.formats:
        if not any(fmt in policy.approved_formats for fmt in result.formats):
            kept.append(
                Finding(
                    rule_id=scan_rules.FORMAT_NOT_APPROVED.id,
                    severity=scan_rules.FORMAT_NOT_APPROVED.severity,
                    confidence=scan_rules.FORMAT_NOT_APPROVED.confidence,
                    location=_loc(result),
                    message=f"format {', '.join(result.formats)} is not in the approved formats "
                    f"({', '.join(policy.approved_formats)})",
                    evidence={
                        "formats": result.formats,
                        "approved_formats": list(policy.approved_formats),
                    },
                    help_uri=scan_rules.FORMAT_NOT_APPROVED.help_uri,
                    disposition=policy.rule_state(scan_rules.FORMAT_NOT_APPROVED.id),
                )  # fmt: skip
            )
    result.findings = [f for f in kept if f.disposition != Disposition.OFF]

    threshold = policy.fail_on
    blocking = [
        f
        for f in result.findings
        if f.disposition == Disposition.BLOCK and threshold is not None and f.severity >= threshold
    ]
    if result.status == FileStatus.UNSCANNABLE and policy.fail_on_unscannable:
        return Verdict.ERROR
    if blocking:
        return Verdict.BLOCKED
    if result.status == FileStatus.UNSUPPORTED and policy.fail_on_unsupported:
        return Verdict.BLOCKED
    return Verdict.ALLOWED


def _allowed_by(policy: Policy, finding: Finding) -> str | None:
    """Why the policy accepts a finding one of its allow entries cleared, or None (no such
    entry in this policy, or a critical finding, which no allow entry clears: it stands)."""
    cleared = finding.evidence.get(ALLOWED_BY)
    if not isinstance(cleared, dict) or finding.severity >= Severity.CRITICAL:
        return None
    lists = {
        "allow.pickle_globals": policy.allow_pickle_globals,
        "allow.keras_modules": policy.allow_keras_modules,
    }
    for entry in lists.get(str(cleared.get("list")), ()):
        if entry.target == cleared.get("entry"):
            return f"{cleared['list']} {entry.target}: {entry.reason}"
    return None


def _loc(result: FileResult) -> Any:
    from modelxray.model import Location

    return Location(result.path)


def apply_policy(policy: Policy, report: Report, today: _dt.date | None = None) -> Report:
    """Set every file's verdict and the run's verdict; returns the same report."""
    if today is None:
        today = _today()
    for result in report.files:
        result.verdict = file_verdict(policy, result, today)
    report.gate = policy.gate()
    return report
