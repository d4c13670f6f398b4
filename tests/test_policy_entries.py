"""A policy's allow and deny entries mean what the policy docs say, however the loader gets there.

* A ``[[deny.pickle_globals]]`` entry beats every allow (the built-in lists, the generated
  table, the policy's own allow entries) under every name the loader resolves to the denied
  object: every pickle protocol (GLOBAL, STACK_GLOBAL, INST/OBJ, protocol-2 ``fix_imports``
  names), copyreg reconstructors, factories and partials, method references, EXT codes the
  pickle registers, the libraries' other paths to the same object, nested pickles, torch
  and joblib files.
* An allow entry never clears what the threat catalogue condemns: the policy file is refused
  (exit 2, one line naming the key), and what an accepted entry clears is reported as
  suppressed with the entry's reason.

Fixtures are real pickles of real objects (``pickle.dumps``, ``torch.save``, ``joblib.dump``)
or hand-assembled streams; nothing scanned is ever loaded.
"""

from __future__ import annotations

import collections
import functools
import json
import operator
import pickle
from pathlib import Path
from typing import Any

import pytest

from modelxray.analysis.pickle import Policy, scan_bytes, verdict_items
from modelxray.analysis.pickle.verdict import VerdictItem
from modelxray.cli import main
from modelxray.engine import ScanOptions, scan
from modelxray.model import Disposition, Severity, Verdict
from modelxray.policy import AllowEntry, PolicyError, load_policy
from modelxray.policy import Policy as ScanPolicy
from tests import pickle_samples as ps

DENY_OD = Policy(extra_deny=["collections.OrderedDict"])


def _items(data: bytes, policy: Policy) -> list[VerdictItem]:
    return verdict_items(scan_bytes(data), policy)


def _critical_names(data: bytes, policy: Policy) -> set[str]:
    return {it.global_name for it in _items(data, policy) if it.severity == "critical"}


# ------------------------------------------------------------------ deny beats every allow


def _ordered_dict_pickles() -> dict[str, bytes]:
    od = collections.OrderedDict(a=1)
    out = {f"protocol {p}": pickle.dumps(od, protocol=p) for p in range(6)}
    for p in (0, 2, 4):
        dd: collections.defaultdict[str, Any] = collections.defaultdict(collections.OrderedDict)
        out[f"defaultdict factory, protocol {p}"] = pickle.dumps(dd, protocol=p)
    out["partial"] = pickle.dumps(functools.partial(collections.OrderedDict), protocol=4)
    out["INST"] = b"(icollections\nOrderedDict\n."
    out["OBJ"] = ps.p2(ps.MARK + ps.glob("collections", "OrderedDict") + ps.OBJ)
    out["NEWOBJ"] = ps.p4(ps.sg("collections", "OrderedDict") + ps.EMPTY_TUPLE + ps.NEWOBJ)
    out["copyreg._reconstructor"] = ps.p2(
        ps.glob("copy_reg", "_reconstructor")  # the protocol-2 fix_imports name
        + ps.MARK
        + ps.glob("collections", "OrderedDict")
        + ps.glob("__builtin__", "object")
        + ps.NONE
        + ps.TUPLE
        + ps.REDUCE
    )
    # the pickle registers an extension code for the class, then names it by the code
    out["EXT1 registered in the stream"] = ps.p2(
        ps.glob("copyreg", "add_extension")
        + ps.MARK
        + ps.push("collections")
        + ps.push("OrderedDict")
        + ps.binint1(240)
        + ps.TUPLE
        + ps.REDUCE
        + ps.POP
        + b"\x82\xf0"  # EXT1 240
        + ps.EMPTY_TUPLE
        + ps.REDUCE
    )
    # a dotted name walks getattr through a module that imported collections
    out["dotted find_class"] = ps.p4(
        ps.sg("functools", "collections.OrderedDict") + ps.EMPTY_TUPLE + ps.REDUCE
    )
    return out


@pytest.mark.parametrize("how", sorted(_ordered_dict_pickles()))
def test_a_denied_allowed_class_is_critical_however_the_pickle_reaches_it(how: str) -> None:
    data = _ordered_dict_pickles()[how]
    denied = [it for it in _items(data, DENY_OD) if "OrderedDict" in it.global_name]
    assert denied and all(it.severity == "critical" for it in denied), denied
    assert any(it.family == "configured" for it in denied)
    # without the entry, the class is never critical (allowed, or unknown by a dotted name)
    assert not any(
        "OrderedDict" in it.global_name and it.severity == "critical"
        for it in _items(data, Policy())
    )


@pytest.mark.parametrize(
    ("entry", "module", "name"),
    [
        # the libraries' other paths to the same object (generated alias table)
        ("functools.partial", "_functools", "partial"),
        ("_functools.partial", "functools", "partial"),
        ("collections.OrderedDict", "_collections", "OrderedDict"),
        ("torch.nn.Linear", "torch.nn.modules.linear", "Linear"),
        ("torch.nn.modules.linear.Linear", "torch.nn", "Linear"),
        ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray", "_reconstruct"),
        # protocol < 3 fix_imports names, in the entry or in the pickle
        ("__builtin__.set", "builtins", "set"),
        ("copy_reg._reconstructor", "copyreg", "_reconstructor"),
        ("builtins.set", "__builtin__", "set"),
        # a module-wide entry, and its submodules
        ("sklearn", "sklearn.ensemble._forest", "RandomForestClassifier"),
    ],
)
def test_a_deny_entry_covers_every_name_of_its_object(entry: str, module: str, name: str) -> None:
    assert Policy().classify(module, name).category != "dangerous"
    c = Policy(extra_deny=[entry]).classify(module, name)
    assert (c.category, c.family) == ("dangerous", "configured"), c


def test_a_deny_entry_beats_the_teams_own_allow_entry() -> None:
    p = Policy(extra_allow=["mypkg.models.Net"], extra_deny=["mypkg.models.Net"])
    assert p.classify("mypkg.models", "Net").category == "dangerous"
    p = Policy(extra_allow=["mypkg.models.Net"], extra_deny=["mypkg"])
    assert p.classify("mypkg.models", "Net").category == "dangerous"


def test_fix_imports_names_in_real_protocol_2_pickles_meet_the_deny_entry() -> None:
    data = pickle.dumps({1, 2}, protocol=2)
    assert b"__builtin__" in data  # Python 3 writes the Python 2 name at protocol 2
    for entry in ("builtins.set", "__builtin__.set"):
        assert "builtins.set" in _critical_names(data, Policy(extra_deny=[entry]))
    assert not _items(data, Policy())


def test_shortcuts_never_skip_a_denied_global() -> None:
    """The verdict's shortcuts (builtin methods of constants, inert resolvers built from
    constants) judge a global without the allow-list; a deny entry still reaches them."""
    join = pickle.dumps("".join, protocol=4)  # getattr('', 'join')
    assert not _items(join, Policy())
    items = _items(join, Policy(extra_deny=["builtins.str"]))
    assert [it.severity for it in items] == ["critical"]
    caller = pickle.dumps(operator.methodcaller("split", ","), protocol=4)
    assert {it.severity for it in _items(caller, Policy())} == {"medium"}
    assert "operator.methodcaller" in _critical_names(
        caller, Policy(extra_deny=["operator.methodcaller"])
    )


def test_a_method_reference_of_a_denied_class_is_critical() -> None:
    data = pickle.dumps(collections.OrderedDict.fromkeys, protocol=4)
    assert any("OrderedDict" in n for n in _critical_names(data, DENY_OD))


def test_nested_pickles_meet_the_deny_entry() -> None:
    inner = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    outer = ps.p4(ps.sg("pickle", "loads") + ps.push(inner) + ps.TUPLE1 + ps.REDUCE)
    items = _items(outer, DENY_OD)
    nested = [it for it in items if it.global_name == "collections.OrderedDict"]
    assert nested and nested[0].severity == "critical" and nested[0].path


def _scan_file(tmp_path: Path, name: str, data: bytes, policy: ScanPolicy) -> Any:
    p = tmp_path / name
    p.write_bytes(data)
    return scan(str(p), ScanOptions(policy=policy)).files[0]


def test_torch_checkpoints_and_joblib_files_meet_the_deny_entry(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    joblib = pytest.importorskip("joblib")
    state = torch.nn.Linear(2, 2).state_dict()  # an OrderedDict of tensors
    torch.save(state, tmp_path / "w.pt")
    joblib.dump(collections.OrderedDict(a=1), tmp_path / "m.joblib")
    deny = ScanPolicy(deny_pickle_globals=(AllowEntry("collections.OrderedDict", "no"),))
    for name in ("w.pt", "m.joblib"):
        path = str(tmp_path / name)
        assert scan(path).files[0].verdict == Verdict.ALLOWED
        result = scan(path, ScanOptions(policy=deny)).files[0]
        assert result.verdict == Verdict.BLOCKED
        assert any(
            f.severity == Severity.CRITICAL
            and f.evidence.get("global") == "collections.OrderedDict"
            for f in result.findings
        ), [f.message for f in result.findings]


# ------------------------------------------------------------------ allow never clears a threat


def test_an_allow_entry_never_clears_a_catalogue_threat() -> None:
    p = Policy(extra_allow=["os.system", "posix:system", "builtins.getattr"])
    for module, name in (("os", "system"), ("posix", "system"), ("builtins", "getattr")):
        assert p.classify(module, name).category == "dangerous"
    data = ps.SAMPLES["t01_system_p2"].data
    assert {it.severity for it in _items(data, p)} == {"critical"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('[[allow.pickle_globals]]\nglobal = "os.system"', "global: os.system is in the threat"),
        ('[[allow.pickle_globals]]\nglobal = "posix.system"', "global: posix.system is in the"),
        # the Python 2 name protocol 0-2 pickles use for builtins
        ('[[allow.pickle_globals]]\nglobal = "__builtin__.eval"', "__builtin__.eval is in the"),
        ('[[allow.pickle_globals]]\nglobal = "mypkg"', "names no object"),
        ('[[allow.pickle_globals]]\nglobal = "builtins.eval"', "builtins.eval is in the threat"),
        ('[[allow.pickle_globals]]\nglobal = "mypkg.*"', "not a dotted name"),
        ('[[allow.pickle_globals]]\nglobal = "mypkg:Net"', "not a dotted name"),
        ('[[allow.keras_modules]]\nmodule = "subprocess"', "module: subprocess is in the threat"),
        ('[[allow.keras_modules]]\nmodule = "os.path"', "module: os.path is in the threat"),
    ],
)
def test_the_policy_loader_refuses_allow_entries_for_threats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, message: str
) -> None:
    pf = tmp_path / "modelxray.toml"
    pf.write_text(entry + '\nreason = "trusted"\n')
    with pytest.raises(PolicyError, match="allow"):
        load_policy(str(pf))
    sample = tmp_path / "x.pkl"
    sample.write_bytes(pickle.dumps([1], protocol=4))
    assert main(["scan", "--policy", str(pf), str(sample)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert "[0]" in lines[0]


def test_allow_entries_for_the_teams_own_code_load(tmp_path: Path) -> None:
    pf = tmp_path / "modelxray.toml"
    pf.write_text(
        '[[allow.pickle_globals]]\nglobal = "my_company.models.Classifier"\nreason = "ours"\n'
        '[[allow.keras_modules]]\nmodule = "my_company.layers"\nreason = "ours"\n'
        '[[deny.pickle_globals]]\nglobal = "collections.OrderedDict"\nreason = "no"\n'
        '[[deny.keras_modules]]\nmodule = "keras.layers"\nreason = "no"\n'
        # the team's own subpackages and functions may share a name with a denied module
        '[[allow.pickle_globals]]\nglobal = "acme.os.Model"\nreason = "ours"\n'
        '[[allow.pickle_globals]]\nglobal = "acme.models.load"\nreason = "ours"\n'
        '[[allow.keras_modules]]\nmodule = "acme.os"\nreason = "ours"\n'
    )
    p = load_policy(str(pf))
    assert [e.target for e in p.allow_pickle_globals] == [
        "my_company.models.Classifier",
        "acme.os.Model",
        "acme.models.load",
    ]


# ------------------------------------------------------------------ what an allow entry cleared


def _classifier_pickle() -> bytes:
    return ps.p4(ps.sg("my_company.models", "Classifier") + ps.EMPTY_TUPLE + ps.NEWOBJ)


def test_what_a_pickle_allow_entry_clears_is_reported_as_suppressed(tmp_path: Path) -> None:
    data = _classifier_pickle()
    policy = ScanPolicy(
        fail_on=Severity.MEDIUM,
        allow_pickle_globals=(AllowEntry("my_company.models.Classifier", "our estimator"),),
    )
    blocked = _scan_file(tmp_path, "c.pkl", data, ScanPolicy(fail_on=Severity.MEDIUM))
    assert blocked.verdict == Verdict.BLOCKED
    result = _scan_file(tmp_path, "c.pkl", data, policy)
    assert result.verdict == Verdict.ALLOWED
    assert not result.findings
    (accepted,) = result.suppressed
    assert accepted.rule_id == "MX-PICKLE-003"
    assert accepted.disposition == Disposition.SUPPRESSED
    assert accepted.evidence["allowed_by_policy"] == {
        "list": "allow.pickle_globals",
        "entry": "my_company.models.Classifier",
    }
    assert accepted.evidence["suppressed_because"] == (
        "allow.pickle_globals my_company.models.Classifier: our estimator"
    )


def test_the_json_report_names_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.pkl").write_bytes(_classifier_pickle())
    pf = tmp_path / "modelxray.toml"
    pf.write_text(
        'fail_on = "medium"\n[[allow.pickle_globals]]\n'
        'global = "my_company.models.Classifier"\nreason = "our estimator"\n'
    )
    assert main(["scan", "--policy", str(pf), "--format", "json", str(tmp_path / "c.pkl")]) == 0
    report = json.loads(capsys.readouterr().out)
    (accepted,) = report["files"][0]["suppressed"]
    assert "our estimator" in accepted["evidence"]["suppressed_because"]


def test_a_finding_naming_an_entry_the_policy_lacks_stands(tmp_path: Path) -> None:
    """The evidence names the entry; the policy decides: no such entry, no acceptance."""
    data = _classifier_pickle()
    allow = ScanPolicy(allow_pickle_globals=(AllowEntry("my_company.models.Classifier", "x"),))
    result = _scan_file(tmp_path, "c.pkl", data, allow)
    finding = result.suppressed[0]
    from modelxray.model import FileResult
    from modelxray.policy import file_verdict

    finding.disposition = Disposition.BLOCK
    other = FileResult(path=result.path, size=result.size, sha256="", findings=[finding])
    strict = ScanPolicy(fail_on=Severity.MEDIUM)
    assert file_verdict(strict, other) == Verdict.BLOCKED
    # and no allow entry accepts a critical finding, whatever its evidence claims
    finding.disposition = Disposition.BLOCK
    finding.severity = Severity.CRITICAL
    again = FileResult(path=result.path, size=result.size, sha256="", findings=[finding])
    assert file_verdict(allow, again) == Verdict.BLOCKED


def test_what_a_keras_allow_entry_clears_is_reported_as_suppressed(tmp_path: Path) -> None:
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "acme_layers.blocks", "class_name": "Residual", "config": {"name": "r"},
         "registered_name": None}]}}  # fmt: skip
    model = tmp_path / "model.json"
    model.write_text(json.dumps(cfg))
    policy = ScanPolicy(allow_keras_modules=(AllowEntry("acme_layers", "our layers"),))
    result = scan(str(model), ScanOptions(policy=policy)).files[0]
    assert result.verdict == Verdict.ALLOWED
    assert result.suppressed
    for f in result.suppressed:
        assert f.evidence["allowed_by_policy"] == {
            "list": "allow.keras_modules",
            "entry": "acme_layers",
        }
        assert f.evidence["suppressed_because"] == "allow.keras_modules acme_layers: our layers"


def test_a_shipped_policy_allowing_a_threat_is_reported_as_loosening(tmp_path: Path) -> None:
    """A policy file inside scanned content is never applied; one whose allow entry the loader
    would refuse is the loosening attempt itself (high), not merely an invalid file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "modelxray.toml").write_text(
        '[[allow.pickle_globals]]\nglobal = "os.system"\nreason = "needed"\n'
    )
    report = scan(str(repo / "modelxray.toml"))
    (finding,) = [f for f in report.files[0].findings if f.rule_id == "MX-REPO-106"]
    assert finding.severity == Severity.HIGH
    assert "allow_pickle_globals: 1 entry" in finding.message


# ------------------------------------------------------------------ Keras deny entries


def _keras_model(tmp_path: Path, layer: dict[str, Any]) -> str:
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def _dense(module: str = "keras.layers", activation: Any = None) -> dict[str, Any]:
    config: dict[str, Any] = {"name": "d", "units": 2}
    if activation is not None:
        config["activation"] = activation
    return {"module": module, "class_name": "Dense", "config": config, "registered_name": None}


def _fn(module: str, name: str) -> dict[str, Any]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": None}


@pytest.mark.parametrize(
    ("layer", "deny"),
    [
        # the module defining the class, for an entry naming the public API
        (_dense("keras.src.layers.core.dense"), "keras.layers"),
        # the public API, for an entry naming the defining module
        (_dense(), "keras.src.layers.core.dense"),
        # a function Keras looks up in its builtin modules by bare name
        (_dense(activation=_fn("builtins", "relu")), "keras.activations"),
        (_dense(activation=_fn("builtins", "relu")), "keras.src.activations.activations.relu"),
        (_dense(activation=_fn("keras.activations", "relu")), "keras.src.activations"),
    ],
)
def test_a_keras_deny_entry_covers_every_name_of_its_object(
    tmp_path: Path, layer: dict[str, Any], deny: str
) -> None:
    path = _keras_model(tmp_path, layer)
    assert scan(path).verdict == Verdict.ALLOWED
    policy = ScanPolicy(deny_keras_modules=(AllowEntry(deny, "retired"),))
    report = scan(path, ScanOptions(policy=policy))
    assert report.verdict == Verdict.BLOCKED
    assert any(
        f.rule_id == "MX-KERAS-201" and "denied by policy: retired" in f.message
        for f in report.findings
    )


def test_a_keras_deny_entry_covers_only_its_own_functions(tmp_path: Path) -> None:
    """``builtins.mse`` is a loss: an entry denying the activations leaves it alone."""
    path = _keras_model(tmp_path, _dense(activation=_fn("builtins", "mse")))
    policy = ScanPolicy(deny_keras_modules=(AllowEntry("keras.activations", "retired"),))
    assert scan(path, ScanOptions(policy=policy)).verdict == Verdict.ALLOWED
