"""The one JSON serializer: a job's typed result -> the JSON document of DESIGN.md.

Layer: report/. A renderer: writes only to the stream it is handed. The
envelope (tool, version, kind, inputs, findings, warnings) is the same for
every kind; the body comes from the kind's body module (`BODIES`), which turns
the result's typed fields into JSON-ready values. Large lists (a capture's
connections) may be lazy: an iterable with a true `json_ready` attribute, rendered
and written a batch at a time so the whole document never exists at once.
The shape is described by `schema.json` beside this file and tested against it.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from mtuscope import __version__
from mtuscope.diagnose.findings import Finding

if TYPE_CHECKING:
    from mtuscope.jobs.result import JobResult

BODIES: dict[str, str] = {
    "capture": "mtuscope.report.capture_json",
    "compare": "mtuscope.report.compare_json",
    "path": "mtuscope.report.path_json",
    "middlebox": "mtuscope.report.middlebox_json",
    "calc": "mtuscope.report.calc_json",
}
"""Report kind -> the module whose `body(result) -> dict` renders that kind's fields."""


def body_of(result: JobResult) -> dict[str, Any]:
    """The kind-specific fields of `result`'s JSON document (lazy lists left lazy)."""
    module = importlib.import_module(BODIES[result.kind])
    render: Callable[[Any], dict[str, Any]] = module.body
    return render(result)


def envelope(result: JobResult) -> dict[str, Any]:
    """The fields every report has, in document order."""
    return {
        "tool": "mtuscope",
        "version": __version__,
        "kind": result.kind,
        "inputs": list(result.inputs),
        "findings": findings_json(result.findings),
        "warnings": list(result.warnings),
    }


def to_dict(result: JobResult) -> dict[str, Any]:
    """The whole JSON document as dicts (lazy lists expanded)."""
    doc = envelope(result)
    doc.update(jsonable(body_of(result)))
    return doc


def write_json(result: JobResult, out: TextIO) -> None:
    """Write the JSON document of `to_dict` to `out`, plus a newline.

    No indent: only then does json use its C encoder (a report of 40,000
    connections is seconds faster); `jq .` pretty-prints it. Lazy lists come
    last in the document and are written a batch at a time.
    """
    write_document(envelope(result), body_of(result), out)


def write_document(head: dict[str, Any], body: Mapping[str, Any], out: TextIO) -> None:
    """Write `head` then `body` as one JSON object, streaming `body`'s lazy lists."""
    lazy = {k: v for k, v in body.items() if getattr(v, "json_ready", False)}
    doc = dict(head)
    doc.update(jsonable({k: v for k, v in body.items() if k not in lazy}))
    text = json.dumps(doc)
    out.write(text[:-1])  # all but the closing brace
    for key, rows in lazy.items():
        out.write(f", {json.dumps(key)}: ")
        _write_rows(out, rows)
    out.write("}\n")


def _write_rows(out: TextIO, rows: Iterable[Any], batch: int = 4096) -> None:
    # A list's text is "[" + its items joined with "," (orjson) or ", " (json) + "]".
    out.write("[")
    it = iter(rows)
    sep = ""
    while part := list(itertools.islice(it, batch)):
        out.write(sep)
        out.write(dumps_rows(part)[1:-1])
        sep = ", "
    out.write("]")


def dumps_rows(rows: list[Any]) -> str:
    """`rows` (JSON-ready values) as the text of a JSON array.

    orjson writes the 40,000 rows of a large capture's connections
    about ten times as fast as `json.dumps` (docs/benchmarks.md); its text is compact
    (no space after "," and ":") and keeps non-ASCII characters as UTF-8, so the
    document parses to the same values either way. (The rows hold integers, strings,
    booleans and nulls; a float NaN, which `json.dumps` would write as the non-JSON
    token NaN, orjson writes as null.) A batch orjson refuses (an integer beyond 64
    bits) goes through `json.dumps`.
    """
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:
        return json.dumps(rows)


def findings_json(findings: tuple[Finding, ...]) -> list[Any]:
    """Findings as JSON-ready dicts, field for field."""
    # Thousands of findings on a large capture: the cycle collector would rescan
    # the growing list of fresh dicts again and again while they are built.
    paused = gc.isenabled()
    gc.disable()
    try:
        return [plain(f) for f in findings]
    finally:
        if paused:
            gc.enable()


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def plain(value: Any) -> Any:
    """A dataclass tree (scalars, enums, tuples, dicts) as JSON-ready values, in one pass.

    `dataclasses.asdict` would deep-copy first and leave enums and tuples to
    convert again (a third of the JSON time of a capture with thousands of findings).
    """
    cls = type(value)
    if cls in _SCALARS:
        return value
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: plain(getattr(value, name)) for name in _field_names(cls)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """Enums, tuples and lazy lists inside dicts and lists as JSON-ready values."""
    if getattr(value, "json_ready", False):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
