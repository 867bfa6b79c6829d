"""DF sweep: every size of a range, like a router's extended ping, one row per size.

Layer: active/. A sans-IO engine (see engine.py): no sockets, no sleeping, no clock.
Unlike the path MTU search it draws no conclusions while it runs: it sends
each size `count` times (rate-limited, all in one round) and tabulates what
came back.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.active.engine import Limits
from mtuscope.active.probe import (
    IPAddress,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    SearchStop,
    min_probe_size,
)
from mtuscope.active.size_engine import ProbeEngine, ProbeRun
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepRow:
    """What happened to the probes of one size."""

    size: int
    sent: int
    reached: int
    """Probes the destination answered."""
    too_big: int
    """Too-big messages (usable MTU or not)."""
    lost: int
    other: int
    """Time-exceeded, unreachable, local errors."""
    mtus: tuple[int, ...]
    """Distinct MTU values quoted by the too-big messages, ascending."""
    min_rtt_ms: float | None
    """Fastest answer from the destination, milliseconds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepConclusion:
    """What a sweep's table says about the path MTU (the table is the evidence)."""

    lo: int | None
    """Largest size the destination answered; None when none was."""
    hi: int
    """Largest size that may still get through: one below the smallest size refused by a
    too-big message or silent (two silent probes above `lo` needed), else the ceiling."""
    exact: bool
    """True when `lo` is the path MTU to the byte: a too-big message quoted exactly `lo`,
    or the size one byte above `lo` was refused or vanished."""
    verdict: SearchStop
    """CONVERGED (bounded by too-big messages or the ceiling), BLACKHOLE (larger sizes
    vanished silently), ICMP_FILTERED (nothing answered, nothing refused), or the
    engine's own stop when it was cut short (BUDGET, TIME, INTERRUPTED, ERROR)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult(ProbeRun):
    """The per-size table of a DF sweep, and what it says about the path MTU.

    `stop_reason`: CONVERGED when every size was sent and settled; BUDGET, TIME,
    INTERRUPTED or ERROR otherwise. `conclusion` reads the table.
    """

    rows: tuple[SweepRow, ...]
    """One per size, ascending."""
    ceiling: int | None = None
    """The interface MTU toward the destination (the upper bound when every size passed);
    None: the last size of the range."""

    @property
    def largest_reached(self) -> int | None:
        """Largest size the destination answered at least once."""
        sizes = [r.size for r in self.rows if r.reached]
        return max(sizes) if sizes else None

    @property
    def conclusion(self) -> SweepConclusion:
        """The path MTU the table shows: exact, or the bounds it lies in, and why."""
        lo = self.largest_reached
        above = [r for r in self.rows if lo is None or r.size > lo]
        refused = [r.size for r in above if r.too_big]
        silent = [r.size for r in above if r.lost and not r.too_big]
        # One lost probe may be loss; two silent probes above every answer are a pattern.
        silent_top = silent[0] if sum(r.lost for r in above) >= 2 and silent else None
        hi_refused = min(refused) if refused else None
        limits = [x for x in (hi_refused, silent_top) if x is not None]
        if limits:
            hi = min(limits) - 1
        elif self.ceiling is not None:
            hi = max(self.ceiling, lo or 0)
        else:
            # Every size passed and the interface MTU is not known: at least one more byte.
            hi = max(self.rows[-1].size, lo or 0) + 1
        quoted = {m for r in above if r.too_big for m in r.mtus}
        exact = lo is not None and (hi <= lo or lo in quoted)
        if lo is not None and exact:
            hi = lo
        verdict: SearchStop
        if self.stop_reason is not SearchStop.CONVERGED:
            verdict = self.stop_reason
        elif lo is None:
            verdict = SearchStop.CONVERGED if refused else SearchStop.ICMP_FILTERED
        elif silent_top is not None and (hi_refused is None or silent_top < hi_refused):
            verdict = SearchStop.CONVERGED if lo in quoted else SearchStop.BLACKHOLE
        else:
            verdict = SearchStop.CONVERGED
        return SweepConclusion(lo=lo, hi=hi, exact=exact, verdict=verdict)

    @property
    def exact_path_mtu(self) -> int | None:
        """The path MTU when the sweep pins it to the byte (see `conclusion`), else None."""
        c = self.conclusion
        return c.lo if c.exact else None


CONFIRM = 2
"""Extra probes a sweep may send to the first silent size above the largest answered one."""


class DfSweep(ProbeEngine[SweepResult]):
    """A DF sweep over `start..stop` in steps of `step` (a sans-IO engine).

    Args:
        dst: the destination.
        start, stop: first and last size, bytes (both included when the step lands on stop).
        step: size increment.
        count: probes per size.
        kind, dport: probe kind and port.
        ttl: TTL / hop limit.
        ceiling: the interface MTU toward `dst` (the upper bound when every size passes).
        limits: timeout, rate, burst, budget.
        first_id: id of the first probe.

    Raises:
        UsageError: an empty or impossible range, or more probes than the budget allows.
    """

    WHAT = "the sweep"

    def __init__(
        self,
        *,
        dst: IPAddress,
        start: int,
        stop: int,
        step: int = 1,
        count: int = 1,
        kind: ProbeKind = ProbeKind.ECHO,
        dport: int | None = None,
        ttl: int = 64,
        ceiling: int | None = None,
        limits: Limits | None = None,
        first_id: int = 1,
    ) -> None:
        super().__init__(dst=dst, kind=kind, dport=dport, limits=limits, first_id=first_id)
        self.ceiling = ceiling
        low = min_probe_size(self.family, kind)
        if (
            not low <= start <= stop <= MAX_IP_PACKET
            or step < 1
            or count < 1
            or not 1 <= ttl <= 255
        ):
            raise UsageError(
                f"need {low} <= start <= stop <= {MAX_IP_PACKET}, step >= 1, count >= 1"
            )
        self.sizes = tuple(range(start, stop + 1, step))
        self.count = count
        self.ttl = ttl
        if len(self.sizes) * count > self.limits.budget:
            raise UsageError(
                f"a sweep of {len(self.sizes)} sizes x {count} needs "
                f"{len(self.sizes) * count} probes, over the budget of {self.limits.budget}"
            )
        self._planned = False

    def _plan(self) -> list[tuple[int, int]]:
        if not self._planned:
            self._planned = True
            return [(s, self.ttl) for s in self.sizes for _ in range(self.count)]
        return self._confirm()

    def _confirm(self) -> list[tuple[int, int]]:
        """Once the table is in: the first size above the largest answered one, when every
        probe of it vanished, is probed again (at most `CONFIRM` more times), so that one
        lost probe at the boundary is not read as a black hole starting there."""
        records = self.records
        reached = [r.probe.size for r in records if r.outcome is ProbeOutcome.REACHED]
        if not reached:
            return []
        top = max(reached)
        above = [z for z in self.sizes if z > top]
        if not above:
            return []
        edge = above[0]
        mine = [r for r in records if r.probe.size == edge]
        if any(r.outcome is not ProbeOutcome.LOST for r in mine):
            return []
        if len(mine) >= self.count + CONFIRM or self.sent >= self.limits.budget:
            return []
        return [(edge, self.ttl)]

    def _observe(self, record: ProbeRecord) -> None:
        """Nothing to learn while it runs: the table is made from the records at the end."""

    def _settled(self) -> SearchStop | None:
        return None

    def _result(self) -> SweepResult:
        records = self.records
        rows = []
        for size in self.sizes:
            mine = [r for r in records if r.probe.size == size]
            outcomes = [r.outcome for r in mine]
            rtts = [r.rtt for r in mine if r.outcome is ProbeOutcome.REACHED and r.rtt is not None]
            big = (ProbeOutcome.TOO_BIG, ProbeOutcome.TOO_BIG_BOGUS)
            rows.append(
                SweepRow(
                    size=size,
                    sent=len(mine),
                    reached=outcomes.count(ProbeOutcome.REACHED),
                    too_big=sum(1 for o in outcomes if o in big),
                    lost=outcomes.count(ProbeOutcome.LOST),
                    other=sum(
                        1
                        for o in outcomes
                        if o not in big
                        and o
                        not in (ProbeOutcome.REACHED, ProbeOutcome.LOST, ProbeOutcome.CANCELLED)
                    ),
                    mtus=tuple(
                        sorted(
                            {
                                r.reply.mtu
                                for r in mine
                                if r.outcome in big and r.reply and r.reply.mtu is not None
                            }
                        )
                    ),
                    min_rtt_ms=round(min(rtts) * 1000.0, 3) if rtts else None,
                )
            )
        return self._build(SweepResult, probes=records, rows=tuple(rows), ceiling=self.ceiling)
