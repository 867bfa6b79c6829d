"""The report every verb produces: an envelope, findings, and a kind-specific body.

Layer: report/. Pure data plus the conversion to JSON-ready dicts; rendering
for people is in `text.py`. The JSON shape is the contract of DESIGN.md and is
described by `schema.json` next to this file.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TextIO

from mtuscope import __version__
from mtuscope.diagnose.findings import Finding, Severity

REPORT_KINDS = ("capture", "compare", "path", "middlebox", "calc")


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    kind: str
    """One of `REPORT_KINDS`."""
    inputs: tuple[str, ...]
    """What was analysed: capture paths, a target, a layer stack."""
    findings: tuple[Finding, ...] = ()
    body: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific fields (DESIGN.md "Contracts"), already JSON-ready."""
    warnings: tuple[str, ...] = ()
    """Things that went wrong but did not stop the run (a damaged capture tail)."""

    def __post_init__(self) -> None:
        if self.kind not in REPORT_KINDS:
            raise ValueError(f"unknown report kind {self.kind!r}")

    @property
    def has_error(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (exit code and schema rely on it)."""
        doc: dict[str, Any] = {
            "tool": "mtuscope",
            "version": __version__,
            "kind": self.kind,
            "inputs": list(self.inputs),
            "findings": _findings(self.findings),
            "warnings": list(self.warnings),
        }
        doc.update(_jsonable(dict(self.body)))
        return doc

    def write_json(self, out: TextIO) -> None:
        """Write the JSON document of `to_dict` to `out`, plus a newline.

        A large lazily rendered list in the body (a capture's connections) is
        rendered, encoded and written a batch at a time, so the whole document
        never exists at once as dicts or as one string. Such lists come last in
        the document; the keys and values are those of `to_dict`.

        Args:
            out: a text stream.
        """
        lazy = {k: v for k, v in self.body.items() if getattr(v, "json_ready", False)}
        rest = {k: v for k, v in self.body.items() if k not in lazy}
        head = json.dumps(dataclasses.replace(self, body=rest).to_dict())
        out.write(head[:-1])  # all but the closing brace
        for key, rows in lazy.items():
            out.write(f", {json.dumps(key)}: ")
            _write_rows(out, rows)
        out.write("}\n")


def _write_rows(out: TextIO, rows: Iterable[Any], batch: int = 4096) -> None:
    # `json.dumps` of a list is "[" + its items joined with ", " + "]".
    out.write("[")
    it = iter(rows)
    sep = ""
    while part := list(itertools.islice(it, batch)):
        out.write(sep)
        out.write(json.dumps(part)[1:-1])
        sep = ", "
    out.write("]")


def _findings(findings: tuple[Finding, ...]) -> list[Any]:
    # Thousands of findings on a large capture: the cycle collector would rescan
    # the growing list of fresh dicts again and again while they are built.
    paused = gc.isenabled()
    gc.disable()
    try:
        return [_plain(f) for f in findings]
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


def _plain(value: Any) -> Any:
    """`_jsonable(dataclasses.asdict(value))` in one pass, without asdict's deep copies.

    Findings carry only JSON scalars, enums, tuples, dicts and nested dataclasses,
    which asdict would copy only for `_jsonable` to convert again (a third of the
    JSON time of a capture with thousands of findings)."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(cls)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if getattr(value, "json_ready", False):
        return list(value)  # a large lazily rendered list that is JSON-ready row by row
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
