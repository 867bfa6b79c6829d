"""Diagnose a per-hop middlebox walk (`mtuscope middlebox`): run its checks, collect findings.

Layer: diagnose/. Pure; no I/O, no clock. The checks are listed in
`mtuscope.diagnose.rules.MIDDLEBOX_CHANGE_CHECKS` (per change along the path) and
`MIDDLEBOX_CHECKS` (over the walk). Changes of IP fields (DSCP/ECN, IP id, DF,
addresses, ports) have no rule yet: they are listed in the body's `changes`.
"""

from __future__ import annotations

from mtuscope.active.middlebox_result import MiddleboxResult
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.rules import MIDDLEBOX_CHANGE_CHECKS, MIDDLEBOX_CHECKS


def diagnose_middlebox(
    result: MiddleboxResult, *, platform: str | None = None
) -> tuple[Finding, ...]:
    """The findings of one walk.

    Args:
        result: the engine's result.
        platform: add configuration snippets for this platform to the advice.

    Returns:
        Findings in path order: MSS and sequence number rewrites change by change (no
        sequence rewrite when a TCP proxy answered: its ISN is its own), then other
        option changes, then a TCP proxy answering for the destination (`tcp-proxy`).

    Raises:
        UsageError: unknown platform.
    """
    per_change = (
        f
        for change in result.changes
        for check in MIDDLEBOX_CHANGE_CHECKS
        for f in check(result, change, platform=platform)
    )
    overall = (f for check in MIDDLEBOX_CHECKS for f in check(result, platform=platform))
    return (*per_change, *overall)
