"""What the path verbs measured, as diagnose/ takes it: one input for probe, trace and sweep.

Layer: diagnose/. Pure data. A `probe` fills `search` (and usually `trace` and
`mss`); a `trace` fills only `trace`; a `sweep` fills only `sweep`. Rules read
what is there and never need a result that was not measured.

The properties below read the path MTU the same way whichever verb measured it:
the search's; else the sweep's (its table is evidence: exact when a too-big MTU or
adjacent sizes pin it, else bounds); else the MTU toward the destination hop when
the trace reached it. `path_mtu` is only ever an exact answer: a search or sweep cut
short (budget, time, interrupt) gives `pmtu_bounds` and no `path_mtu`, so no rule
reads a lower bound as the path MTU.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.end_check import TcpEnd
from mtuscope.active.hop_trace import HopTraceResult
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import ProbeOutcome, ProbeRecord, SearchStop
from mtuscope.active.sweep import SweepResult
from mtuscope.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class PathObservations:
    """Everything one path run measured toward one destination."""

    dst: IPv4Address | IPv6Address
    """The address probed."""
    port: int | None = None
    """The TCP port of the MSS measurement (or the probes' port), if any."""
    search: PathMtuResult | None = None
    """The path MTU search (`probe`)."""
    trace: HopTraceResult | None = None
    """The hop trace (`probe`, `trace`)."""
    sweep: SweepResult | None = None
    """The DF sweep (`sweep`)."""
    mss: MssObservation | None = None
    """The MSS measurements (`probe --port`)."""
    tcp_end: TcpEnd | None = None
    """The TCP answer of the SYN probes and the echoes that tell whether a proxy sent it
    (`probe`, `trace` with TCP probes and raw sockets)."""

    def __post_init__(self) -> None:
        parts = (("search", self.search), ("trace", self.trace), ("sweep", self.sweep))
        for name, part in (*parts, ("TCP end check", self.tcp_end)):
            if part is not None and part.dst != self.dst:
                raise UsageError(
                    f"the {name} is toward {part.dst}, the observations toward {self.dst}"
                )
        if self.mss is not None and self.mss.family != self.dst.version:
            raise UsageError(
                f"MSS observed over IPv{self.mss.family}, path over IPv{self.dst.version}"
            )

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.dst.version

    @property
    def diagnosable(self) -> bool:
        """False when nothing was measured that a rule could read."""
        return self.search is not None or self.sweep is not None or self.trace is not None

    @property
    def path_mtu(self) -> int | None:
        """The path MTU toward `dst`, bytes, or None when it is not known exactly."""
        if self.search is not None:
            return self.search.path_mtu if self.search.exact else None
        if self.sweep is not None:
            return self.sweep.exact_path_mtu
        if self.trace is not None and self.trace.reached and self.trace.hops:
            return self.trace.hops[-1].mtu
        return None

    @property
    def stop_reason(self) -> SearchStop | None:
        """Why the measurement of the path MTU stopped (a trace that reached the
        destination counts as CONVERGED)."""
        if self.search is not None:
            return self.search.stop_reason
        if self.sweep is not None:
            return self.sweep.conclusion.verdict
        if self.trace is not None:
            return SearchStop.CONVERGED if self.trace.reached else self.trace.stop_reason
        return None

    @property
    def mtu_probes(self) -> tuple[ProbeRecord, ...]:
        """The probes behind the path MTU: the search's, or the sweep's (a trace's are in
        `trace.probes`)."""
        if self.search is not None:
            return self.search.probes
        if self.sweep is not None:
            return self.sweep.probes
        return ()

    @property
    def records(self) -> tuple[ProbeRecord, ...]:
        """Every probe of the run: `mtu_probes`, then the trace's."""
        return (*self.mtu_probes, *(self.trace.probes if self.trace is not None else ()))

    @property
    def exact(self) -> ProbeRecord | None:
        """The largest probe that got through, when the path MTU is an exact answer
        (the measurement CONVERGED or found a BLACKHOLE), else None."""
        if self.stop_reason not in (SearchStop.CONVERGED, SearchStop.BLACKHOLE):
            return None
        if self.sweep is not None and self.search is None and not self.sweep.conclusion.exact:
            return None
        reached = [r for r in self.mtu_probes if r.outcome is ProbeOutcome.REACHED]
        return max(reached, key=lambda r: (r.probe.size, -r.probe.id)) if reached else None

    @property
    def pmtu_bounds(self) -> tuple[int | None, int] | None:
        """`(lo, hi)`: the path MTU lies in `lo..hi` bytes (`lo` None: nothing got
        through); both the path MTU when exact; None when nothing bounds it (a trace)."""
        if self.search is not None:
            return self.search.bounds
        if self.sweep is not None:
            c = self.sweep.conclusion
            return c.lo, c.hi
        mtu = self.path_mtu
        if mtu is not None:
            return mtu, mtu
        if self.trace is None or not self.trace.reached:
            return None
        # A trace that reached the destination but did not pin its MTU: what got there.
        got = [r.probe.size for r in self.trace.probes if r.reply is not None and r.reply.reached]
        lo = max(got) if got else None
        return lo, max(self.trace.ceiling, lo or 0)

    @property
    def cut_short(self) -> bool:
        """True when the measurement of the path MTU stopped before it knew the answer
        (budget, time, interrupt): the report is inconclusive, never "no problem"."""
        return self.stop_reason in CUT_SHORT


CUT_SHORT = frozenset({SearchStop.BUDGET, SearchStop.TIME, SearchStop.INTERRUPTED})
"""Stop reasons of a measurement cut short from outside, before it had its answer."""
