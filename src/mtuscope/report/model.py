"""The report every verb produces: an envelope, findings, and a kind-specific body.

Layer: report/. Pure data plus the conversion to JSON-ready dicts; rendering
for people is in `text.py`. The JSON shape is the contract of DESIGN.md and is
described by `schema.json` next to this file.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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


def _findings(findings: tuple[Finding, ...]) -> list[Any]:
    # Thousands of findings on a large capture: the cycle collector would rescan
    # the growing list of fresh dicts again and again while asdict builds them.
    paused = gc.isenabled()
    gc.disable()
    try:
        return [_jsonable(dataclasses.asdict(f)) for f in findings]
    finally:
        if paused:
            gc.enable()


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
