"""Schema checks other tests can reuse: the JSON report and the SARIF log.

``validate_json_report(doc)`` checks a JSON report against the schema modelxray ships
(``modelxray/data/report.schema.json``); ``validate_sarif(doc)`` checks a SARIF log against the
official SARIF 2.1.0 schema vendored in ``tests/data``.  Both raise
``jsonschema.ValidationError`` with the failing path in the message.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jsonschema

from modelxray.reports.json_report import schema as report_schema
from tests.conftest import data_path

SARIF_SCHEMA_FILE = data_path("sarif-schema-2.1.0.json")

# RFC 3986 URI reference made of unreserved, reserved and percent-encoded characters only.
URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


@lru_cache(maxsize=1)
def _json_validator() -> jsonschema.protocols.Validator:
    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@lru_cache(maxsize=1)
def _sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _raise_best(validator: jsonschema.protocols.Validator, doc: Any, what: str) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise jsonschema.ValidationError(f"{what} invalid at {where}: {error.message}")


def validate_json_report(doc: Any) -> None:
    """Raise unless ``doc`` (a decoded JSON report) matches modelxray's report schema."""
    _raise_best(_json_validator(), doc, "JSON report")
    # What the schema cannot say: the summary adds up.
    files = doc["files"]
    assert doc["summary"]["files"] == len(files)
    counted = {s: 0 for s in doc["summary"]["findings"]}
    for f in files:
        for finding in f["findings"]:
            counted[finding["severity"]] += 1
    assert counted == doc["summary"]["findings"]
    assert sum(doc["summary"]["verdicts"].values()) == len(files)


def validate_sarif(doc: Any) -> None:
    """Raise unless ``doc`` is a valid SARIF 2.1.0 log whose URIs are proper URI references."""
    _raise_best(_sarif_validator(), doc, "SARIF log")
    for run in doc["runs"]:
        for rule in run["tool"]["driver"]["rules"]:
            if "helpUri" in rule:
                assert URI_REFERENCE.match(rule["helpUri"]), rule["helpUri"]
        for result in run["results"]:
            for loc in result["locations"]:
                uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                assert URI_REFERENCE.match(uri), uri
        for base in run.get("originalUriBaseIds", {}).values():
            assert base["uri"].endswith("/") and URI_REFERENCE.match(base["uri"]), base
