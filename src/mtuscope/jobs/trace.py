"""The `trace` job: the hops toward a host, the MTU toward each, where it drops.

Layer: jobs/. Orchestration only (jobs/path.py has the run); no separate path
MTU search: the report's path MTU is the MTU toward the destination hop.
"""

from __future__ import annotations

import dataclasses

from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.size_engine import totals
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.path import PathOptions, PathReport, PathRun
from mtuscope.jobs.tcp_end import check_tcp_end


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
        ProbeError: resolving the target took all of --max-seconds.
    """
    run = PathRun(opts)
    try:
        hops = run.first(
            HopTrace(
                dst=run.dst,
                ceiling=run.ceiling,
                kind=run.kind,
                dport=run.dport,
                limits=run.limits(opts.budget, adaptive=True),
                rtt=run.rtt,
            ),
            "the hop trace",
        )
        # With TCP probes: who answered them, the destination or a TCP proxy on the way.
        tcp_end = check_tcp_end(run, hops.probes)
    finally:
        run.close()
    last = hops.hops[-1] if hops.hops and hops.reached else None
    return run.report(
        dataclasses.replace(run.observations(trace=hops), tcp_end=tcp_end),
        pmtu=last.mtu if last is not None else None,
        stop_reason=hops.stop_reason,
        probes=totals(hops),
    )
