"""The `sweep` job: every size of a range with DF set, one table row per size.

Layer: jobs/. Orchestration only (jobs/path.py has the run).
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.active.size_engine import totals
from mtuscope.active.sweep import DfSweep
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.path import PathOptions, PathReport, PathRun


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepOptions(PathOptions):
    """`sweep`'s options: the shared ones, plus the range of sizes."""

    start: int
    """First size, bytes (whole IP packets)."""
    stop: int
    """Last size, bytes."""
    step: int = 1
    """Size increment, bytes."""
    count: int = 1
    """Probes per size."""


@INTERRUPTS.keeping()
def sweep(opts: SweepOptions) -> PathReport:
    """`mtuscope sweep`: every size of `start..stop` with DF set, one table row per size.

    Args:
        opts: target, limits (`budget` must cover the sizes times `count`) and range.

    Returns:
        A "path" report with the sweep's rows, the path MTU its table shows (`pmtu`
        when a too-big MTU or adjacent sizes pin it, else `pmtu_bounds`) and the same
        findings as `probe` (the table is evidence, diagnosed through PathObservations).

    Raises:
        UsageError: an empty range, or more probes than `budget`.
        RawSocketDenied, NoRoute: as `jobs.probe.probe`.
    """
    run, rows = PathRun.alone(
        opts,
        "the sweep",
        lambda run: DfSweep(
            dst=run.dst,
            start=opts.start,
            stop=opts.stop,
            step=opts.step,
            count=opts.count,
            kind=run.kind,
            dport=run.dport,
            ceiling=run.ceiling,
            limits=run.limits(opts.budget),
        ),
    )
    return run.report(
        run.observations(sweep=rows),
        pmtu=rows.exact_path_mtu,
        stop_reason=rows.conclusion.verdict,
        probes=totals(rows),
    )
