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
    assert {f.rule_id for f in result.findings} == {"MX-TEMPLATE-003"}


def test_oversized_template(tmp_path: Path) -> None:
    source = "{{ a }}" * 200_000
    result = scan_json(tmp_path, {"chat_template": source})
    (f,) = result.findings
    assert f.rule_id == "MX-TEMPLATE-003" and f.evidence["limit"] == "max_template_bytes"
