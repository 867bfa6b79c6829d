"""Diagnose a finished capture analysis: run every capture rule, collect the findings.

Layer: diagnose/. Pure; no I/O. The rules are listed in
`mtuscope.diagnose.rules.CAPTURE_CHECKS`.
"""

from __future__ import annotations

from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.rules import CAPTURE_CHECKS
from mtuscope.passive.results import CaptureAnalysis


def diagnose_capture(
    analysis: CaptureAnalysis, *, platform: str | None = None
) -> tuple[Finding, ...]:
    """All findings about one capture, rule by rule in registry order.

    Args:
        analysis: the result of `mtuscope.passive.finish`.
        platform: configuration platform for advice snippets (see calc/snippets), or None.

    Returns:
        The findings, in the order of `CAPTURE_CHECKS` and, within a rule, of the capture.

    Raises:
        UsageError: `platform` is not one calc/ knows.
    """
    return tuple(f for check in CAPTURE_CHECKS for f in check(analysis, platform=platform))
