"""Diagnose a two-point comparison: run every compare check, collect the findings.

Layer: diagnose/. Pure; no I/O. The checks are listed in
`mtuscope.diagnose.rules.COMPARE_CHECKS`; each aggregates its kind over the
connections (one finding per direction and values, not one per connection).
"""

from __future__ import annotations

from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.rules import COMPARE_CHECKS
from mtuscope.passive.compare import CompareResult


def diagnose_compare(result: CompareResult, *, platform: str | None = None) -> tuple[Finding, ...]:
    """The findings of a two-point comparison, aggregated over connections.

    Args:
        result: the comparison (`passive.compare.compare_captures`).
        platform: a `calc.snippets.PLATFORMS` name to add configuration lines to advice.

    Returns:
        Findings in a stable order: by kind in the order of `COMPARE_CHECKS`, then by the
        first connection concerned.

    Raises:
        UsageError: unknown platform.
    """
    return tuple(
        f
        for check in COMPARE_CHECKS
        for f in sorted(check(result, platform=platform), key=lambda f: f.connection or 0)
    )
