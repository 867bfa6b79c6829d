"""What the path verbs measured, as diagnose/ takes it: one input for probe, trace and sweep.

Layer: diagnose/. Pure data. A `probe` fills `search` (and usually `trace` and
`mss`); a `trace` fills only `trace`; a `sweep` fills only `sweep`. Rules read
what is there and never need a result that was not measured.

The properties below read the path MTU the same way whichever verb measured it:
the search's; else the sweep's when it is exact to the byte (a sweep that is not
exact gives no path MTU and no findings); else the MTU toward the destination hop
when the trace reached it.
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
        """False when nothing was measured that a rule could read: no search, no trace,
        or a sweep that does not pin the path MTU to the byte."""
        if self.search is not None:
            return True
        if self.sweep is not None:
            return self.sweep.exact_path_mtu is not None
        return self.trace is not None

    @property
    def path_mtu(self) -> int | None:
        """The path MTU toward `dst`, bytes, or None when it is not known."""
        if self.search is not None:
            return self.search.path_mtu
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
            return self.sweep.stop_reason
        if self.trace is not None:
            return SearchStop.CONVERGED if self.trace.reached else self.trace.stop_reason
        return None

    @property
    def mtu_probes(self) -> tuple[ProbeRecord, ...]:
        """The probes behind the path MTU: the search's, or an exact sweep's (a trace's
        are in `trace.probes`)."""
        if self.search is not None:
            return self.search.probes
        if self.sweep is not None and self.sweep.exact_path_mtu is not None:
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
        reached = [r for r in self.mtu_probes if r.outcome is ProbeOutcome.REACHED]
        return max(reached, key=lambda r: (r.probe.size, -r.probe.id)) if reached else None
