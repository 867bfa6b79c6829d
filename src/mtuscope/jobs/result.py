"""The envelope every job's result shares: kind, inputs, findings, warnings.

Layer: jobs/. Pure data. Each job subclasses `JobResult` with its own typed,
frozen fields (the path MTU search, the connections, the calculator's layers);
report/ turns a result into text or JSON and reads only these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.errors import UsageError

REPORT_KINDS = ("capture", "compare", "path", "middlebox", "calc")
"""The JSON `kind` of each report (DESIGN.md "Contracts")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    """What every job returns; subclasses add the job's own fields."""

    kind: str
    """One of `REPORT_KINDS`: which body the JSON document carries."""
    inputs: tuple[str, ...]
    """What was analysed: capture paths, the target as typed and as resolved, a layer stack."""
    findings: tuple[Finding, ...] = ()
    """What was concluded, from the vocabulary of DESIGN.md."""
    warnings: tuple[str, ...] = ()
    """What went wrong without stopping the job (a damaged capture tail, a skipped step)."""

    def __post_init__(self) -> None:
        if self.kind not in REPORT_KINDS:
            raise UsageError(f"unknown report kind {self.kind!r}")

    @property
    def has_error(self) -> bool:
        """True when a finding has error severity (exit code 1)."""
        return any(f.severity is Severity.ERROR for f in self.findings)
