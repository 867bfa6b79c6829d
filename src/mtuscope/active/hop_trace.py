"""Hop trace: each hop's address, RTT and the MTU toward it, and where the MTU drops.

Layer: active/. A sans-IO engine (see engine.py): no sockets, no sleeping, no clock.
The likely encapsulation of a drop is calc/'s business; diagnose/ asks it.

Two phases:

1. Trace: small probes with TTL 1, 2, ... (`window` TTLs in parallel, silent
   TTLs retried) until the destination answers, `max_ttl` is reached,
   `gap_limit` TTLs in a row after the last hop that answered stay silent (never
   probing deeper than that gap), or a destination-unreachable (`!H`, `!N`,
   `!X`) says where the path ends. A gap is believed only `NEIGHBOUR_GRACE`
   after the start (a late `!H` may still explain it). With a path MTU search
   that ended UNREACHABLE, the trace ends at the hop that sent that unreachable;
   with one that found the probes filtered, one silent try of two TTLs past the
   last hop is enough.
2. MTU: the MTU toward hop k is the largest size whose TTL-k probe still gets
   a time-exceeded back from hop k (the destination: a reply). Every probe
   bounds several hops at once, because the MTU toward a hop never grows with
   distance: a size that reached hop k reached every hop before it, and a size
   that did not get to hop k gets no further. A too-big message from hop j
   says the size reached hop j and gives the MTU after it. When no too-big
   messages come, TTL-limited large probes sent in parallel find the last hop
   that still answers them, as scamper's PMTUD does (Luckie, Cho and Owens,
   "Inferring and Debugging Path MTU Discovery Failures", IMC 2005). With a
   path MTU result to start from, one round of sizes `pmtu + 1` (and the
   interface MTU) at every hop places a single black hole to the link.

The trace is bounded to the hops needed: its first TTLs stop at the destination's
distance that the search's answers suggest (`hops_guess`: the TTL they arrived
with), neighbouring hops that would try the same sizes share one set of probes
aimed at the middle of their run (a binary search over the hops), and a hop alone
next to a hop known to be at the path MTU gets the ceiling alone first. In the
lab's black hole (client, r1, r2, server) that is 7 probes: three small ones,
1500 and 1401 twice at r2 (silent), 1500 at r1 (answered). With the run's
`RttEstimator` (rtt.py, shared with the search) its silences take a few round
trips, not a fixed timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mtuscope.active.bounds import SizeBounds
from mtuscope.active.engine import Limits
from mtuscope.active.path_mtu import MODERN_TABLE, PathMtuResult
from mtuscope.active.probe import (
    IPAddress,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    SearchStop,
    first_unreachable,
    min_probe_size,
)
from mtuscope.active.rtt import RttEstimator
from mtuscope.active.size_engine import ProbeEngine, ProbeRun
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET

TRACE_BUDGET = 200
"""Default probe budget of a hop trace."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    """One TTL of the trace."""

    ttl: int
    address: IPAddress | None
    """Who answered at this TTL; None when nobody did."""
    rtt_ms: float | None
    """Smallest round-trip time seen from it, milliseconds."""
    mtu: int | None
    """MTU toward this hop (the largest size that reached it), bytes; None when unknown."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MtuDrop:
    """A link where the MTU gets smaller."""

    after_hop: int
    """The last hop before the narrow link (0: this host)."""
    at_hop: int
    """The first hop after it."""
    address: IPAddress | None
    """Address of `after_hop`: the router that sends (or should send) the too-big messages;
    None when `after_hop` is this host."""
    at_address: IPAddress | None
    """Address of `at_hop`."""
    from_mtu: int
    to_mtu: int
    silent: bool
    """True when `after_hop` sent no too-big message for any probe (a black hole)."""
    reached_probe: int | None
    """Id of the largest probe above `to_mtu` that still reached `after_hop` (None for hop 0)."""
    refused_probes: tuple[int, ...]
    """Ids of up to three probes above `to_mtu` that did not get to `at_hop`."""

    @property
    def probes(self) -> tuple[int, ...]:
        """Every probe id that shows the drop."""
        head = () if self.reached_probe is None else (self.reached_probe,)
        return head + self.refused_probes


@dataclass(frozen=True, slots=True, kw_only=True)
class HopTraceResult(ProbeRun):
    """The hops toward one destination, their MTUs and where it drops.

    `stop_reason`: CONVERGED, HOP_LIMIT (destination not reached), UNREACHABLE (a
    destination-unreachable ended the path), BUDGET, TIME or ERROR.
    """

    ceiling: int
    """The interface MTU: the MTU of "hop 0", this host."""
    reached: bool
    """Whether the destination answered."""
    hops: tuple[Hop, ...]
    drops: tuple[MtuDrop, ...]
    """Every drop, nearest first."""

    @property
    def mtu_drop(self) -> MtuDrop | None:
        """The drop that sets the path MTU (the last, lowest one), if any."""
        return self.drops[-1] if self.drops else None


class Phase(StrEnum):
    """What the hop trace is doing (module docstring: the two phases)."""

    TRACE = "trace"
    """Small probes, TTL by TTL, until the destination answers or the gap limit."""
    MTU = "mtu"
    """Sizes toward every hop that answered, until each hop's MTU is exact."""


class HopTrace(ProbeEngine[HopTraceResult]):
    """The hop trace (a sans-IO engine).

    Args:
        dst: the destination.
        ceiling: the interface MTU toward `dst`.
        kind: probe kind; dport: its port (UDP, TCP_SYN).
        pmtu: a finished path MTU search toward `dst`; its probes count as evidence
            here, and its exact answer lets one round locate a black hole.
        max_ttl: highest TTL tried.
        window: TTLs traced in parallel.
        gap_limit: silent TTLs in a row that end the trace.
        width: at most this many new sizes per hop and round.
        limits: timeout, rate, burst, budget, attempts (default: `Limits` with a budget
            of `TRACE_BUDGET`: one search per drop, each hop's address).
        first_id: id of the first probe; defaults to just after `pmtu`'s probes.
        rtt: the path's RTT estimate (the search's, when there was one), for a timeout
            adapted to it (rtt.py); None: every probe waits `limits.timeout`.

    Raises:
        UsageError: bad numbers or a target that does not match `pmtu`.
    """

    WHAT = "the hop trace"

    def __init__(
        self,
        *,
        dst: IPAddress,
        ceiling: int = 1500,
        kind: ProbeKind = ProbeKind.ECHO,
        dport: int | None = None,
        pmtu: PathMtuResult | None = None,
        max_ttl: int = 30,
        window: int = 4,
        gap_limit: int = 5,
        width: int = 6,
        limits: Limits | None = None,
        first_id: int | None = None,
        rtt: RttEstimator | None = None,
    ) -> None:
        if pmtu is not None and pmtu.dst != dst:
            raise UsageError(f"the path MTU result is for {pmtu.dst}, not {dst}")
        if first_id is None:
            first_id = 1 + max((r.probe.id for r in pmtu.probes), default=0) if pmtu else 1
        limits = limits or Limits(budget=TRACE_BUDGET)
        super().__init__(dst=dst, kind=kind, dport=dport, limits=limits, first_id=first_id, rtt=rtt)
        self.small = min_probe_size(self.family, kind) + 24
        if not self.small <= ceiling <= MAX_IP_PACKET:
            raise UsageError(f"ceiling {ceiling} outside {self.small}..{MAX_IP_PACKET}")
        if not 1 <= max_ttl <= 255 or window < 1 or gap_limit < 1 or width < 1:
            raise UsageError("max_ttl must lie in 1..255; window, gap_limit, width >= 1")
        self.ceiling = ceiling
        self.pmtu = pmtu
        self.max_ttl = max_ttl
        self.window = window
        self.gap_limit = gap_limit
        self.width = width
        self.phase = Phase.TRACE
        self._tries: dict[int, int] = {}
        self._addr: dict[int, IPAddress] = {}
        self._dest_ttl: int | None = None
        self._unreach_ttl: int | None = None
        """The smallest TTL past which the path ends in a destination-unreachable."""
        ended = first_unreachable(pmtu.probes) if pmtu is not None else None
        self._unreach_from = ended.reply.from_addr if ended and ended.reply else None
        """The sender of the unreachable that ended the path MTU search, if one did."""
        self._filtered = pmtu is not None and pmtu.stop_reason is SearchStop.ICMP_FILTERED
        """The search found that nothing of this kind reaches the destination."""
        self._bounds: dict[int, SizeBounds] = {}
        self._table = tuple(sorted({s for s in (*MODERN_TABLE, ceiling) if s <= ceiling}))
        # A path MTU known exactly lets every hop test "exactly pmtu" at once.
        exact = pmtu is not None and pmtu.stop_reason in (
            SearchStop.CONVERGED,
            SearchStop.BLACKHOLE,
        )
        self._edge = pmtu.path_mtu if pmtu is not None and exact else None
        self._guess = hops_guess(pmtu.probes) if pmtu is not None else None
        """The destination's TTL as its answers to the search suggest, if they do."""

    # -- engine hooks ----------------------------------------------------------------------

    def _plan(self) -> list[tuple[int, int]]:
        if self.phase is Phase.TRACE:
            plan = self._plan_trace()
            if plan:
                return plan
            hold = self._hold_until()
            if hold is not None and self._now < hold:
                return []  # the base waits until `hold` and asks again
            self._start_mtu_phase()
        # Neighbouring hops that would try the same sizes share one set of probes, aimed at
        # the middle of the run (deeper on a tie): a size that reaches it reached every hop
        # before, a size that does not gets no further; the run splits there next round.
        runs: list[tuple[tuple[int, ...], list[int]]] = []
        for ttl, bounds in sorted(self._bounds.items()):
            sizes = tuple(
                bounds.next_sizes(
                    self.width,
                    edge=self._edge,
                    table=self._table,
                    edge_with_ceiling=self._edge_with_ceiling(ttl),
                )
            )
            if not sizes:
                continue
            if runs and runs[-1][0] == sizes and runs[-1][1][-1] == self._previous(ttl):
                runs[-1][1].append(ttl)
            else:
                runs.append((sizes, [ttl]))
        return [(size, ttls[len(ttls) // 2]) for sizes, ttls in runs for size in sizes]

    def _edge_with_ceiling(self, ttl: int) -> bool:
        """Whether hop `ttl` tests "exactly the path MTU" in the same round as the
        ceiling. Not for a hop alone between hops already known (or this host) whose
        next hop is known to be at the path MTU: the drop lies just before that next
        hop or just before this one, the ceiling alone tells which, and when it gets
        through (the drop is after this hop) the test's probes would be wasted; when it
        does not, the test follows (`SizeBounds.next_sizes`), one round later."""
        if self._edge is None:
            return True
        deeper = [t for t in self._bounds if t > ttl]
        nearer = [t for t in self._bounds if t < ttl]
        if not deeper:
            return True
        after = self._bounds[min(deeper)]
        alone = not nearer or self._bounds[max(nearer)].converged
        return not (alone and after.converged and after.lo == self._edge)

    def _previous(self, ttl: int) -> int | None:
        """The answering hop just before `ttl`, if any."""
        before = [t for t in self._bounds if t < ttl]
        return max(before) if before else None

    def _observe(self, record: ProbeRecord) -> None:
        ttl, reply = record.probe.ttl, record.reply
        if reply is not None and reply.from_addr is not None:
            if record.outcome is ProbeOutcome.REACHED:
                if self._dest_ttl is None or ttl < self._dest_ttl:
                    self._dest_ttl = ttl
                self._addr.setdefault(ttl, reply.from_addr)
            elif record.outcome is ProbeOutcome.TIME_EXCEEDED:
                self._addr.setdefault(ttl, reply.from_addr)
                if reply.from_addr == self._unreach_from and self.phase is Phase.TRACE:
                    self._ends_at(ttl + 1)  # the hop that said unreachable to the search
        if record.outcome is ProbeOutcome.UNREACHABLE and self.phase is Phase.TRACE:
            self._ends_at(ttl)
        if self.phase is Phase.MTU:
            self._apply(record)

    def _ends_at(self, ttl: int) -> None:
        """The path ends in an unreachable from TTL `ttl` on: trace probes sent that deep
        or deeper would only draw the same, so those in flight are cancelled."""
        if self._unreach_ttl is not None and self._unreach_ttl <= ttl:
            return
        self._unreach_ttl = ttl
        for pid, (probe, sent) in list(self._inflight.items()):
            if probe.ttl >= ttl:
                del self._inflight[pid]
                self._records[pid] = ProbeRecord(
                    probe=probe,
                    sent_at=sent,
                    reply=None,
                    replied_at=None,
                    outcome=ProbeOutcome.CANCELLED,
                )

    def _settled(self) -> SearchStop | None:
        if self.phase is Phase.TRACE or not all(b.converged for b in self._bounds.values()):
            return None
        return self._final_stop()

    def _final_stop(self) -> SearchStop:
        if self._dest_ttl is not None:
            return SearchStop.CONVERGED
        return SearchStop.HOP_LIMIT if self._unreach_ttl is None else SearchStop.UNREACHABLE

    def _hold_until(self) -> float | None:
        # A trace that ran into silence may still get a late !H (NEIGHBOUR_GRACE).
        if self.phase is not Phase.TRACE or self._dest_ttl or self._unreach_ttl:
            return None
        start = self.pmtu.started_at if self.pmtu is not None else self.started_at
        return None if start is None else start + self.grace

    # -- phase 1: the trace ----------------------------------------------------------------

    def _plan_trace(self) -> list[tuple[int, int]]:
        if self._dest_ttl is not None or self._unreach_ttl is not None:
            return []
        # Toward a destination the search found filtered, its silence is known already.
        attempts = 1 if self._filtered else self.limits.attempts
        gap = min(self.gap_limit, 2) if self._filtered else self.gap_limit
        top = max(self._tries, default=0)
        last = max(self._addr, default=0)
        # Stop after `gap` silent TTLs in a row past the last hop that answered, each
        # tried `attempts` times; never probe deeper than that gap.
        silent_run = 0
        for ttl in range(last + 1, top + 1):
            if self._tries[ttl] < attempts:
                break
            silent_run += 1
        if silent_run >= gap:
            return []
        retry = [t for t in range(1, top + 1) if t not in self._addr and self._tries[t] < attempts]
        deepest = min(top + self.window, self.max_ttl, last + gap)
        if self._guess is not None and top < self._guess:
            deepest = min(deepest, self._guess)  # no TTL past the likely destination yet
        fresh = list(range(top + 1, deepest + 1))
        ttls = retry + fresh
        for t in ttls:
            self._tries[t] = self._tries.get(t, 0) + 1
        return [(self.small, t) for t in ttls]

    # -- phase 2: the MTU toward each hop --------------------------------------------------

    def _start_mtu_phase(self) -> None:
        self.phase = Phase.MTU
        last = self._dest_ttl if self._dest_ttl is not None else max(self._addr, default=0)
        for ttl in sorted(self._addr):
            if ttl <= last:
                self._bounds[ttl] = SizeBounds(
                    floor=self.small, ceiling=self.ceiling, attempts=self.limits.attempts
                )
        for record in (*(self.pmtu.probes if self.pmtu else ()), *self.records):
            self._apply(record)

    def _hop_of(self, address: IPAddress) -> int | None:
        hops = [t for t, a in self._addr.items() if a == address]
        return min(hops) if hops else None

    def _apply(self, record: ProbeRecord) -> None:
        """File what one probe shows about the MTU toward each hop."""
        size, outcome, reply = record.probe.size, record.outcome, record.reply
        depth = record.probe.ttl
        if self._dest_ttl is not None:
            depth = min(depth, self._dest_ttl)
        hops = self._bounds
        if outcome in (ProbeOutcome.REACHED, ProbeOutcome.TIME_EXCEEDED):
            for k in hops:
                if k <= depth:
                    hops[k].reached(size)
        elif outcome in (ProbeOutcome.TOO_BIG, ProbeOutcome.TOO_BIG_BOGUS) and reply is not None:
            mtu = reply.mtu if outcome is ProbeOutcome.TOO_BIG else None
            sender = 0 if reply.from_addr is None else self._hop_of(reply.from_addr)
            for k in hops:
                if sender is not None and k <= sender:
                    hops[k].reached(size)
                elif k >= (depth if sender is None else sender + 1):
                    hops[k].refused(size, mtu)
        elif outcome in (ProbeOutcome.LOST, ProbeOutcome.UNREACHABLE):
            for k in hops:
                if k >= depth:
                    hops[k].lost(size)

    # -- the result ------------------------------------------------------------------------

    def _result(self) -> HopTraceResult:
        records = self.records
        last = self._dest_ttl or max(self._addr, default=0)
        hops = tuple(self._hop(ttl, records) for ttl in range(1, last + 1))
        return self._build(
            HopTraceResult,
            ceiling=self.ceiling,
            reached=self._dest_ttl is not None,
            hops=hops,
            drops=self._drops(hops, (*(self.pmtu.probes if self.pmtu else ()), *records)),
        )

    def _hop(self, ttl: int, records: tuple[ProbeRecord, ...]) -> Hop:
        address = self._addr.get(ttl)
        rtts = [
            r.rtt
            for r in records
            if r.probe.ttl == ttl and r.rtt is not None and r.reply and r.reply.from_addr == address
        ]
        bounds = self._bounds.get(ttl)
        mtu = bounds.lo if bounds is not None and bounds.converged and bounds.any_reached else None
        return Hop(
            ttl=ttl,
            address=address,
            rtt_ms=round(min(rtts) * 1000.0, 3) if rtts and address else None,
            mtu=mtu,
        )

    def _drops(
        self, hops: tuple[Hop, ...], records: tuple[ProbeRecord, ...]
    ) -> tuple[MtuDrop, ...]:
        drops: list[MtuDrop] = []
        prev_ttl, prev_addr, prev_mtu = 0, None, self.ceiling
        for hop in hops:
            if hop.mtu is None:
                continue
            if hop.mtu < prev_mtu:
                # Evidence: the largest probe that still reached `after_hop`, then the
                # refused ones aimed at `at_hop` itself (smallest first), then the others.
                refused = sorted(
                    (
                        r
                        for r in records
                        if r.probe.size > hop.mtu
                        and r.outcome in _REFUSED
                        and (r.reply is None or r.reply.from_addr == prev_addr)
                        and min(r.probe.ttl, self._dest_ttl or 255) >= hop.ttl
                    ),
                    key=lambda r: (r.probe.ttl != hop.ttl, r.probe.size, r.probe.id),
                )
                shown = sorted(
                    (
                        r
                        for r in records
                        if r.probe.size > hop.mtu
                        and r.outcome in (ProbeOutcome.REACHED, ProbeOutcome.TIME_EXCEEDED)
                        and r.probe.ttl == prev_ttl
                    ),
                    key=lambda r: (-r.probe.size, r.probe.id),
                )
                silent = not any(
                    r.outcome in (ProbeOutcome.TOO_BIG, ProbeOutcome.TOO_BIG_BOGUS)
                    and r.reply is not None
                    and r.reply.from_addr == prev_addr
                    and prev_ttl > 0
                    for r in records
                )
                drops.append(
                    MtuDrop(
                        after_hop=prev_ttl,
                        at_hop=hop.ttl,
                        address=prev_addr,
                        at_address=hop.address,
                        from_mtu=prev_mtu,
                        to_mtu=hop.mtu,
                        silent=silent,
                        reached_probe=shown[0].probe.id if shown else None,
                        refused_probes=tuple(r.probe.id for r in refused[:3]),
                    )
                )
            prev_ttl, prev_addr, prev_mtu = hop.ttl, hop.address, hop.mtu
        return tuple(drops)


_REFUSED = (ProbeOutcome.LOST, ProbeOutcome.TOO_BIG, ProbeOutcome.TOO_BIG_BOGUS)

INITIAL_TTLS = (32, 64, 128, 255)
"""The TTLs hosts start their packets with (Linux and most Unix 64, Windows 128, many
routers 255)."""


def hops_guess(records: tuple[ProbeRecord, ...]) -> int | None:
    """The destination's TTL as the TTL of its answers suggests: the hops back (the
    smallest initial TTL at or above the one received, less it) plus one; None without
    an answer that carries its TTL. Only a guess (the way back may be longer or shorter),
    so it only bounds the first TTLs the trace sends at once."""
    back = [
        min(t for t in INITIAL_TTLS if t >= r.reply.ttl) - r.reply.ttl
        for r in records
        if r.outcome is ProbeOutcome.REACHED and r.reply is not None and r.reply.ttl
    ]
    return min(back) + 1 if back else None
