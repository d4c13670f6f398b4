"""Jinja chat-template analysis: popular templates stay clean, injection payloads do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelxray
from modelxray import Severity
from modelxray.analysis.jinja_template import analyse_template, looks_like_template
from modelxray.budget import BudgetExceeded, Limits

DATA = Path(__file__).parent / "data" / "templates" / "chat_templates.json"
POPULAR: dict[str, str] = json.loads(DATA.read_text(encoding="utf-8"))["templates"]
MARKER = "echo MODELXRAY_MARKER"


def rules_of(source: str) -> dict[str, Severity]:
    """Rule ID -> highest severity reported for the template."""
    out: dict[str, Severity] = {}
    for issue in analyse_template(source):
        sev = issue.severity if issue.severity is not None else issue.rule.severity
        out[issue.rule.id] = max(out.get(issue.rule.id, Severity.INFO), sev)
    return out


@pytest.mark.parametrize("name", sorted(POPULAR))
def test_popular_templates_are_clean(name: str) -> None:
    issues = analyse_template(POPULAR[name])
    significant = [
        i for i in issues if (i.severity if i.severity is not None else i.rule.severity) >= 1
    ]
    assert significant == [], [(i.rule.id, i.message) for i in significant]


def test_data_file_covers_the_families() -> None:
    for family in ("llama2", "llama3", "mistral", "chatml", "qwen", "gemma", "phi-3", "zephyr",
                   "deepseek"):  # fmt: skip
        assert any(k.startswith(family) for k in POPULAR), family


CRITICAL = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('" + MARKER + "').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os') }}",
    "{{ namespace.__init__.__globals__.os.system('" + MARKER + "') }}",
    "{{ lipsum|attr('__globals__') }}",
    "{{ lipsum|attr('__glo' ~ 'bals__') }}",
    "{{ x|attr(['_', '_', 'class', '_', '_']|join) }}",
    "{{ x['__cla' + 'ss__'] }}",
    "{% set a = '__cla' ~ 'ss__' %}{% set b = a %}{{ x[b] }}",
    "{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}",
    "{{ self._TemplateReference__context.cycler }}",
    "{{ messages|map(attribute='__class__')|list }}",
    "{{ messages|map('attr', '__class__')|list }}",
    "{{ messages|selectattr('__class__')|list }}",
    "{{ '{0.__class__}'.format(messages) }}",
    "{{ '{0._TemplateReference__context}'.format(self) }}",
    "{{ x.gi_frame.f_back }}",
    "{{ x.mro() }}",
    "{%- for message in messages %}{{ message.__class__ }}{% endfor %}",
    "{% macro m() %}{{ caller.__globals__ }}{% endmacro %}",
]


@pytest.mark.parametrize("source", CRITICAL)
def test_internals_are_critical(source: str) -> None:
    found = rules_of(source)
    assert found.get("MX-TEMPLATE-001") == Severity.CRITICAL, found


UNUSUAL = [
    ("{{ x|attr(name) }}", Severity.HIGH),
    ("{{ x[(()|select|string)[24] ~ 'class'] }}", Severity.HIGH),
    ("{{ config.items() }}", Severity.MEDIUM),
    ("{{ request.application }}", Severity.MEDIUM),
    ("{{ lipsum() }}", Severity.MEDIUM),
    ("{{ os }}", Severity.MEDIUM),
    ("{{ evil_helper('x') }}", Severity.MEDIUM),
    ("{% include 'other.jinja' %}", Severity.MEDIUM),
    ("{% import 'x' as y %}", Severity.MEDIUM),
    ("{{ '{0.role}'.format(message) }}", Severity.MEDIUM),
]


@pytest.mark.parametrize(("source", "severity"), UNUSUAL)
def test_unusual_constructs(source: str, severity: Severity) -> None:
    found = rules_of(source)
    assert "MX-TEMPLATE-001" not in found, found
    assert found.get("MX-TEMPLATE-002") == severity, found


def test_mutation_and_odd_methods_are_informational() -> None:
    found = rules_of("{% set l = [] %}{{ l.append(1) }}{{ messages[0].content.swapcase() }}")
    assert found == {"MX-TEMPLATE-002": Severity.INFO}


def test_template_defined_names_are_not_gadgets() -> None:
    source = (
        "{% macro render(m) %}{{ m.content }}{% endmacro %}"
        "{% set ns = namespace(found=false) %}{% for os in range(3) %}{{ os }}{% endfor %}"
        "{{ render(messages[0]) }}{{ raise_exception('x') if false }}{{ strftime_now('%Y') }}"
    )
    assert rules_of(source) == {}


def test_dunder_in_plain_string_constant() -> None:
    found = rules_of("{% set x = 'look: __globals__' %}{{ x }}")
    assert found == {"MX-TEMPLATE-001": Severity.HIGH}


def test_syntax_error_raises() -> None:
    with pytest.raises(Exception) as exc:
        analyse_template("{{ messages[ }}")
    assert type(exc.value).__name__ == "TemplateSyntaxError"


def test_limits() -> None:
    with pytest.raises(BudgetExceeded):
        analyse_template("{{ a }}" * 100, limits=Limits(max_template_bytes=50))
    with pytest.raises(BudgetExceeded):
        analyse_template("{{ a }}" * 100, limits=Limits(max_template_nodes=50))


def test_looks_like_template() -> None:
    assert looks_like_template("Hello {{ name }}")
    assert looks_like_template("{% if x %}y{% endif %}")
    assert not looks_like_template("{{")
    assert not looks_like_template("plain text with {braces}")


# --------------------------------------------------------------------------- tokenizer_config


def scan_json(
    tmp_path: Path, doc: object, name: str = "tokenizer_config.json"
) -> modelxray.FileResult:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return modelxray.scan(path).files[0]


def test_clean_tokenizer_config(tmp_path: Path) -> None:
    doc = {"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>",
           "chat_template": POPULAR["llama3.1"]}  # fmt: skip
    result = scan_json(tmp_path, doc)
    assert [f for f in result.findings if f.severity >= Severity.LOW] == []
    assert "hf-tokenizer-config" in result.formats


def test_malicious_tokenizer_config(tmp_path: Path) -> None:
    payload = "{{ cycler.__init__.__globals__.os.popen('" + MARKER + "').read() }}"
    result = scan_json(tmp_path, {"tokenizer_class": "X", "chat_template": payload})
    crit = [f for f in result.findings if f.rule_id == "MX-TEMPLATE-001"]
    assert crit and all(f.severity == Severity.CRITICAL for f in crit)
    assert crit[0].location.inner[:2] == ("chat_template", "line 1")
    assert MARKER in crit[0].evidence["source"]
    assert result.status == "scanned"


def test_named_templates_list(tmp_path: Path) -> None:
    doc = {"chat_template": [
        {"name": "default", "template": POPULAR["chatml"]},
        {"name": "tool_use", "template": "{{ lipsum.__globals__ }}"},
    ]}  # fmt: skip
    result = scan_json(tmp_path, doc, "chat_template.json")
    hits = {f.location.inner[0] for f in result.findings if f.rule_id == "MX-TEMPLATE-001"}
    assert hits == {"chat_template[tool_use]"}


def test_unparseable_and_wrong_type_templates(tmp_path: Path) -> None:
    result = scan_json(tmp_path, {"chat_template": "{% for m in messages %}{{ m }}"})
    assert {f.rule_id for f in result.findings} == {"MX-TEMPLATE-003"}
    result = scan_json(tmp_path, {"chat_template": [{"name": "a", "template": 3}]})
    assert {f.rule_id for f in result.findings} == {"MX-TEMPLATE-003"}


def test_deep_nesting_does_not_crash(tmp_path: Path) -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    result = scan_json(tmp_path, {"chat_template": source})
    (f,) = result.findings
    assert f.rule_id == "MX-TEMPLATE-003" and f.evidence["limit"] == "max_template_depth"
    assert f.severity == Severity.HIGH and result.verdict == "blocked"


def test_oversized_template(tmp_path: Path) -> None:
    source = "{{ a }}" * 200_000
    result = scan_json(tmp_path, {"chat_template": source})
    (f,) = result.findings
    assert f.rule_id == "MX-TEMPLATE-003" and f.evidence["limit"] == "max_template_bytes"
    assert f.severity == Severity.HIGH and result.verdict == "blocked"


# --------------------------------------------------------------------------- what names refer to

DATA_ATTRIBUTES = [
    # namespace objects the template creates: their attributes are the template's data
    "{% set ns = namespace(system=false) %}{% for m in messages %}{% if m.role == 'system' %}"
    "{% set ns.system = m.content %}{% endif %}{% endfor %}{% if ns.system %}{{ ns.system }}"
    "{% endif %}",
    "{% set ns = namespace(popen=0, modules=[], eval=none, exec='') %}"
    "{{ ns.popen }}{{ ns.modules|length }}{{ ns.eval }}{{ ns.exec }}",
    # the loader's data: messages, tools, their keys and the filters over them
    "{{ messages[0].system }}{{ tools|map(attribute='system')|list }}"
    "{{ messages|selectattr('eval')|list }}{{ messages[0]['popen'] }}",
    # values that flow through set, for, with and macro arguments
    "{% set cfg = {'system': 1} %}{% for k in [cfg] %}{{ k.system }}{% endfor %}"
    "{% with s = messages[0] %}{{ s.system }}{% endwith %}",
    "{% macro show(x) %}{{ x.system }}{% endmacro %}{{ show(messages[0]) }}"
    "{{ show(namespace(system=1)) }}",
    "{% set ns = namespace(system=dict(modules=1)) %}{{ ns.system.modules }}",
]


@pytest.mark.parametrize("source", DATA_ATTRIBUTES)
def test_attributes_of_template_data_are_not_process_machinery(source: str) -> None:
    assert rules_of(source) == {}


ESCAPES_THROUGH_DATA = [
    # process machinery reached through internals, globals or helpers stays critical
    "{{ os.system('" + MARKER + "') }}",
    "{% set g = cycler.__init__.__globals__ %}{{ g.os.system('" + MARKER + "') }}",
    "{% set ns = namespace(s=lipsum.__globals__) %}{{ ns.s.os.popen('" + MARKER + "') }}",
    "{% set ns = namespace() %}{% set ns.m = joiner.__init__.__globals__.os %}"
    "{{ ns.m.system('x') }}",
    "{% macro run(x) %}{{ x.system('" + MARKER + "') }}{% endmacro %}{{ run(os) }}",
    "{% for m in [lipsum.__globals__.os] %}{{ m.popen('id') }}{% endfor %}",
    "{{ self._TemplateReference__context.cycler }}",
    "{{ (messages|map('upper')).gi_frame.f_back }}",
    "{% set ns = namespace(mro=1) %}{{ ''.__class__.mro() }}",
    "{{ helper().system('id') }}",
]


@pytest.mark.parametrize("source", ESCAPES_THROUGH_DATA)
def test_escape_shapes_stay_critical(source: str) -> None:
    assert rules_of(source).get("MX-TEMPLATE-001") == Severity.CRITICAL


def test_process_name_on_escape_is_reported_with_its_base() -> None:
    issues = analyse_template("{{ cycler.__init__.__globals__.os.popen('id').read() }}")
    popen = [i for i in issues if i.construct == "popen"]
    assert popen and "Python internals" in popen[0].message


# --------------------------------------------------------------------------- literals


NESTED_LITERALS = [
    "{% set pairs = [['<|user|>', '<|end|>'], ['<|assistant|>', '<|end|>']] %}"
    "{% for p in pairs %}{{ p[0] }}{{ p|join }}{% endfor %}",
    "{% set t = (('a', 1), ('b', [2, [3, 4]])) %}{{ t[1][1] }}{{ t|length }}",
    "{% set d = {'roles': ['user', ['nested']], 'n': {'x': (1, 2)}} %}{{ d.roles[1][0] }}",
    "{% set a = [[1]] + [[2]] %}{% set b = a %}{{ b|list|first }}{{ [[]]|first }}",
    "{% set x = [1.5, none, true, [false]] %}{{ x }}",
]


@pytest.mark.parametrize("source", NESTED_LITERALS)
def test_nested_literals_do_not_crash(source: str) -> None:
    assert rules_of(source) == {}


def test_names_spelled_through_nested_constants_are_found() -> None:
    source = "{% set parts = [['__cla', 'ss__'], ['x']] %}{{ messages[parts[0]|join] }}"
    assert rules_of(source).get("MX-TEMPLATE-001") == Severity.CRITICAL


# --------------------------------------------------------------------------- resource use

EXHAUSTION = [
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     Severity.HIGH, {"iterations": 10_000_000_000, "loop_bounds": [100_000, 100_000]}),
    ("{{ 'a' * 10**9 }}", Severity.HIGH, {"units": 1_000_000_000}),
    ("{{ range(10**9)|list }}", Severity.HIGH,
     {"units": 1_000_000_000, "range_items": 1_000_000_000, "sandbox_max_range": 100_000}),
    ("{% for i in range(10**7) %}{{ i }}{% endfor %}", Severity.MEDIUM,
     {"iterations": 10_000_000}),
    ("{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}", Severity.MEDIUM,
     {"units": 100_000, "total_units": 100_000_000, "loop_bounds": [1000]}),
    ("{% set n = 10 ** 5 %}{% for a in range(n) %}{% for b in range(n) %}{% for c in range(n) %}"
     "{% endfor %}{% endfor %}{% endfor %}", Severity.HIGH,
     {"loop_bounds": [100_000, 100_000, 100_000]}),
    ("{{ ['x'] * 10**8 }}", Severity.MEDIUM, {"units": 100_000_000}),
    ("{{ ''|center(10**9) }}", Severity.HIGH, {"units": 1_000_000_000}),
    ("{{ 'x'.ljust(50000000) }}", Severity.MEDIUM, {"units": 50_000_000}),
    ("{{ 10 ** (10 ** 10) }}", Severity.HIGH, {}),
    ("{% for i in range(0, 10**12, 2) %}{% endfor %}", Severity.HIGH,
     {"iterations": 500_000_000_000}),
]  # fmt: skip


@pytest.mark.parametrize(("source", "severity", "evidence"), EXHAUSTION)
def test_resource_exhaustion(source: str, severity: Severity, evidence: dict[str, object]) -> None:
    found = [i for i in analyse_template(source) if i.rule.id == "MX-TEMPLATE-004"]
    assert found, source
    assert max(i.severity for i in found if i.severity is not None) == severity
    assert any(all(i.extra.get(k) == v for k, v in evidence.items()) for i in found), found


BOUNDED = [
    "{% for m in messages %}{% for i in range(3) %}{{ m.content * 2 }}{% endfor %}{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(100) %}{{ '-' * 60 }}{% endfor %}{% endfor %}",
    "{{ range(messages|length)|list }}{{ 'x' * (messages|length) }}",
    "{{ '=' * 80 }}{{ 2 ** 64 }}{{ [0] * 512 }}",
]


@pytest.mark.parametrize("source", BOUNDED)
def test_bounded_loops_are_not_exhaustion(source: str) -> None:
    assert "MX-TEMPLATE-004" not in rules_of(source)


def test_exhaustion_evidence_in_scan(tmp_path: Path) -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    result = scan_json(tmp_path, {"chat_template": source})
    (f,) = [f for f in result.findings if f.rule_id == "MX-TEMPLATE-004"]
    assert f.severity == Severity.HIGH and f.evidence["iterations"] == 10**10
    assert f.location.inner == ("chat_template", "line 1") and result.verdict == "blocked"


# --------------------------------------------------------------------------- fail closed


def test_nesting_bomb_is_refused_before_the_parser(tmp_path: Path) -> None:
    source = "{% if x %}" * 30_000 + "{{ lipsum.__globals__ }}" + "{% endif %}" * 30_000
    with pytest.raises(BudgetExceeded) as exc:
        analyse_template(source)
    assert exc.value.limit == "max_template_depth"
    result = scan_json(tmp_path, {"chat_template": source})
    (f,) = result.findings
    assert f.rule_id == "MX-TEMPLATE-003" and f.severity == Severity.HIGH
    assert result.verdict == "blocked"


def test_depth_limit_is_data() -> None:
    source = "{% if a %}" * 10 + "x" + "{% endif %}" * 10
    assert analyse_template(source) == []
    with pytest.raises(BudgetExceeded):
        analyse_template(source, limits=Limits(max_template_depth=5))
    # set-blocks nest, set-assignments do not
    flat = "{% set a = 1 %}" * 100
    assert analyse_template(flat, limits=Limits(max_template_depth=5)) == []


def test_padded_template_fails_the_default_gate(tmp_path: Path) -> None:
    payload = "{{ cycler.__init__.__globals__.os.popen('" + MARKER + "').read() }}"
    padded = payload + " " * (1024 * 1024 + 1)
    result = scan_json(tmp_path, {"chat_template": padded})
    assert {f.rule_id for f in result.findings} == {"MX-TEMPLATE-003"}
    assert result.verdict == "blocked"
    (tmp_path / "chat_template.jinja").write_text(padded, encoding="utf-8")
    result = modelxray.scan(tmp_path / "chat_template.jinja").files[0]
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("MX-TEMPLATE-003", Severity.HIGH)
    ]
    assert result.verdict == "blocked"


# --------------------------------------------------------------------------- template files

LLAMA_CPP = Path(__file__).parent / "data" / "templates" / "llama_cpp"
REAL = sorted(LLAMA_CPP.glob("*.jinja"))


def test_real_template_corpus_is_present() -> None:
    assert len(REAL) >= 10
    assert "namespace(" in "".join(p.read_text(encoding="utf-8") for p in REAL)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_template_files_are_clean(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # by name, by content alone, and opening with ``{{`` as Llama's and Gemma's templates do
    for name, body in (("chat_template.jinja", text), ("template.txt", text),
                       ("template.json", "{{- bos_token }}\n" + text)):  # fmt: skip
        target = tmp_path / name
        target.write_text(body, encoding="utf-8")
        result = modelxray.scan(target).files[0]
        assert result.formats == ["jinja-template"], (name, result.formats)
        assert [f for f in result.findings if f.severity >= Severity.LOW] == []
        assert result.verdict == "allowed"
    result = scan_json(tmp_path, {"chat_template": text, "tokenizer_class": "X"})
    assert [f for f in result.findings if f.severity >= Severity.LOW] == []


def test_hostile_template_file(tmp_path: Path) -> None:
    path = tmp_path / "chat_template.jinja"
    path.write_text("{{ bos_token }}{{ joiner.__init__.__globals__.os.popen('" + MARKER
                    + "').read() }}", encoding="utf-8")  # fmt: skip
    result = modelxray.scan(path).files[0]
    crit = [f for f in result.findings if f.rule_id == "MX-TEMPLATE-001"]
    assert crit and crit[0].severity == Severity.CRITICAL and result.verdict == "blocked"
    assert MARKER in crit[0].evidence["source"]
    assert not (tmp_path / "MODELXRAY_MARKER").exists()


def test_declared_template_file_that_jinja_rejects(tmp_path: Path) -> None:
    path = tmp_path / "additional_chat_templates"
    path.mkdir()
    (path / "tool_use.jinja").write_text("{% for m in messages %}{{ m }}", encoding="utf-8")
    result = modelxray.scan(path / "tool_use.jinja").files[0]
    assert [(f.rule_id, f.severity) for f in result.findings] == [
        ("MX-TEMPLATE-003", Severity.HIGH)
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("README.md", "# Model\n\nRender with `{{ messages }}` and {% raw %}.\n"),
        ("template", "{{ if .System }}<|system|>{{ .System }}{{ end }}"),  # Ollama's Go syntax
        ("notes.txt", "{{ unclosed"),
    ],
)
def test_text_that_is_not_a_jinja_template_is_left_alone(
    tmp_path: Path, name: str, content: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = modelxray.scan(tmp_path / name).files[0]
    assert result.status == "unsupported" and result.findings == []


def test_json_sniffer_leaves_templates_to_the_template_reader(tmp_path: Path) -> None:
    for name in ("b.json", "e.json"):  # a template (it starts with a Jinja tag), named .json
        (tmp_path / name).write_text("{{- bos_token }}{% for m in messages %}{% endfor %}")
        result = modelxray.scan(tmp_path / name).files[0]
        assert result.formats == ["jinja-template"] and result.findings == [], name
    # Jinja markup outside JSON strings is not JSON: the JSON reader does not claim it (and it
    # does not start with a Jinja tag, so it is not sniffed as a template either)
    (tmp_path / "a.json").write_text("[{{ messages|tojson }}]", encoding="utf-8")
    result = modelxray.scan(tmp_path / "a.json").files[0]
    assert result.formats == [] and result.status == "unsupported"
    doc = [{"chat_template": "{{ lipsum.__globals__ }}"}]
    (tmp_path / "c.json").write_text(json.dumps(doc), encoding="utf-8")
    assert modelxray.scan(tmp_path / "c.json").files[0].formats == ["json"]
    (tmp_path / "d.json").write_text('{"a": 1', encoding="utf-8")  # broken JSON is still JSON's
    result = modelxray.scan(tmp_path / "d.json").files[0]
    assert result.formats == ["json"] and result.status == "unscannable"


# --------------------------------------------------------------------------- the sdist corpus

SDIST = "llama_cpp_python-0.3.16.tar.gz"
SDIST_SHA256 = "34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6"


def _cached_sdist() -> Path | None:
    import hashlib
    import os

    root = Path(os.environ.get("MODELXRAY_TEST_CACHE", Path.home() / ".cache" / "modelxray-tests"))
    path = root / SDIST
    if not path.is_file():
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != SDIST_SHA256:
        return None
    return path


def test_llama_cpp_sdist_templates_and_vocabularies(tmp_path: Path) -> None:
    """Every chat template and GGUF vocabulary llama.cpp ships (when the pinned sdist is cached:
    ``pip download --no-deps --no-binary :all: llama-cpp-python==0.3.16 -d
    ~/.cache/modelxray-tests``)."""
    import tarfile

    sdist = _cached_sdist()
    if sdist is None:
        pytest.skip(f"{SDIST} not in the test cache")
    with tarfile.open(sdist) as tar:
        members = [
            m for m in tar.getmembers()
            if m.isfile() and "/models/" in m.name
            and (m.name.endswith(".jinja") or m.name.rsplit("/", 1)[-1].startswith("ggml-vocab-"))
        ]  # fmt: skip
        for m in members:
            data = tar.extractfile(m)
            assert data is not None
            (tmp_path / m.name.rsplit("/", 1)[-1]).write_bytes(data.read())
    names = sorted(p.name for p in tmp_path.iterdir())
    assert (
        sum(n.endswith(".gguf") for n in names) >= 15
        and sum(n.endswith(".jinja") for n in names) >= 20
    )
    report = modelxray.scan(tmp_path)
    bad = [(r.path, r.verdict, [(f.rule_id, f.message) for f in r.findings if f.severity >= 2])
           for r in report.files if r.verdict != "allowed" or r.max_severity not in (None,
           Severity.INFO, Severity.LOW)]  # fmt: skip
    assert bad == []
    templates = [r for r in report.files if r.path.endswith(".jinja")]
    assert templates and all(r.formats == ["jinja-template"] for r in templates)


@pytest.mark.parametrize(
    "template",
    [
        "{{ lipsum.__globals__.os.popen('" + MARKER + "').read() }}" + " " * (1024 * 1024 + 1),
        "{% if x %}" * 30_000 + "{{ lipsum.__globals__ }}" + "{% endif %}" * 30_000,
    ],
    ids=["padded", "nested"],
)
def test_gguf_template_that_cannot_be_analysed_fails_closed(tmp_path: Path, template: str) -> None:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    w = gguf.GGUFWriter(str(tmp_path / "m.gguf"), arch="llama")
    w.add_chat_template(template)
    w.add_tensor("norm.weight", np.zeros((8,), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    result = modelxray.scan(tmp_path / "m.gguf").files[0]
    found = [f for f in result.findings if f.rule_id == "MX-TEMPLATE-003"]
    assert found and found[0].severity == Severity.HIGH, result.findings
    assert found[0].location.inner[0] == "kv:tokenizer.chat_template"
    assert result.verdict == "blocked"
