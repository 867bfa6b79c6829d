"""The `trace` job: the hops toward a host, the MTU toward each, where it drops.

Layer: jobs/. Orchestration only (jobs/path.py has the run); no separate path
MTU search: the report's path MTU is the MTU toward the destination hop.
"""

from __future__ import annotations

from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.size_engine import totals
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.path import PathOptions, PathReport, PathRun


@INTERRUPTS.keeping()
def trace(opts: PathOptions) -> PathReport:
    """`mtuscope trace`: hops, the MTU toward each and where it drops.

    Args:
        opts: target and limits.

    Returns:
        A "path" report; `pmtu` is the MTU toward the destination hop, when it
        answered; a spent budget or time shows as the stop reason.

    Raises:
        UsageError, RawSocketDenied, NoRoute: as `jobs.probe.probe`.
    """
    run, hops = PathRun.alone(
        opts,
        "the hop trace",
        lambda run: HopTrace(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            limits=run.limits(opts.budget),
        ),
    )
    last = hops.hops[-1] if hops.hops and hops.reached else None
    return run.report(
        run.observations(trace=hops),
        pmtu=last.mtu if last is not None else None,
        stop_reason=hops.stop_reason,
        probes=totals(hops),
    )
