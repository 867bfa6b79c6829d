"""The report every verb produces: an envelope, findings, and a kind-specific body.

Layer: report/. Pure data plus the conversion to JSON-ready dicts; rendering
for people is in `text.py`. The JSON shape is the contract of DESIGN.md and is
described by `schema.json` next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.report.serialize import envelope, jsonable, write_document

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
        doc = envelope(self)  # type: ignore[arg-type]  # Report predates JobResult; same envelope
        doc.update(jsonable(dict(self.body)))
        return doc

    def write_json(self, out: TextIO) -> None:
        """Write the JSON document of `to_dict` to `out`, plus a newline (lazy lists streamed)."""
        write_document(envelope(self), self.body, out)  # type: ignore[arg-type]  # as to_dict
