"""The JSON Schema of `mtuscope lab ... --json` documents (kind "lab"), and validation.

Layer: lab (an edge). Lab documents describe scenarios and running labs, not a
measurement: they are no report (no findings) and have a schema of their own,
shipped beside this module. Reads only that file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

__all__ = ["lab_schema", "validate_lab_document"]


@cache
def lab_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the lab's JSON documents."""
    text = resources.files("mtuscope.lab").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_lab_document(doc: dict[str, Any]) -> None:
    """Check what `mtuscope lab list|up|down|demo --json` printed against the schema.

    Raises:
        jsonschema.ValidationError: the document breaks the contract.
    """
    jsonschema.Draft202012Validator(lab_schema()).validate(doc)
