"""The JSON Schema of every report, and validation against it.

Layer: report/. Reads only the schema file shipped inside the package.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) describing mtuscope's JSON reports."""
    text = resources.files("mtuscope.report").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(doc: dict[str, Any]) -> None:
    """Check a JSON report against the schema.

    Raises:
        jsonschema.ValidationError: the document breaks the contract.
    """
    jsonschema.Draft202012Validator(report_schema()).validate(doc)
