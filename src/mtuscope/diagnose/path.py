"""Diagnose a path run (`probe`, `trace`, `sweep`): run the path checks, collect findings.

Layer: diagnose/. Pure; no I/O, no probing. The checks are listed in
`mtuscope.diagnose.rules.PATH_DROP_CHECKS` (per drop of the hop trace) and
`PATH_CHECKS`; they read `PathObservations`, whatever verb filled it. Every
finding names the probes (and hops) behind it: `Evidence(probe=<probe id>, hop=<ttl>)`.
"""

from __future__ import annotations

from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules import PATH_CHECKS, PATH_DROP_CHECKS

__all__ = ["diagnose_path"]


def diagnose_path(obs: PathObservations, *, platform: str | None = None) -> tuple[Finding, ...]:
    """The findings of one path run.

    Args:
        obs: what the run measured: a search (`probe`), a trace (`probe`, `trace`), a sweep
            (`sweep`: no findings unless it pins the path MTU to the byte), MSS measurements.
        platform: a `calc.snippets` platform for configuration lines in the advice.

    Returns:
        Findings in a stable order: drops, black hole, failures, sizes, MSS.

    Raises:
        UsageError: `platform` is unknown.
    """
    if not obs.diagnosable:
        return ()
    drops = (
        f
        for drop in (obs.trace.drops if obs.trace is not None else ())
        for check in PATH_DROP_CHECKS
        for f in check(obs, drop, platform=platform)
    )
    overall = (f for check in PATH_CHECKS for f in check(obs, platform=platform))
    return (*drops, *overall)
