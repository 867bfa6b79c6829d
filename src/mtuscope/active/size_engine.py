"""The base of the size engines (path MTU search, hop trace, DF sweep) and their results.

Layer: active/. Sans-IO like every engine (engine.py has the shared schedule and
the driver's loop): a size engine plans rounds of `(size, ttl)` probes, files
what each showed, and stops when the answer is known, the budget is spent, or
an outcome in its `STOPS` table ends it at once. Every result shares the
`ProbeRun` fields: the target, every probe, why it stopped, when; `totals` counts
the probes of one or more results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from mtuscope.active.engine import OUTCOME_OF_REPLY, Limits, ProbeSchedule
from mtuscope.active.probe import (
    IPAddress,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
    first_unreachable,
    usable_too_big,
)
from mtuscope.active.rtt import RttEstimator


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeRun:
    """What every engine's result holds besides its answer: the target, the probes,
    why the engine stopped and when (the base of PathMtuResult, HopTraceResult, SweepResult)."""

    dst: IPAddress
    family: int
    """4 or 6."""
    kind: ProbeKind
    dport: int | None
    stop_reason: SearchStop
    """Why the engine stopped (each result's docstring lists the values it uses)."""
    probes: tuple[ProbeRecord, ...]
    """Every probe, in the order sent: the evidence."""
    started_at: float
    ended_at: float
    """Driver clock at the first send and at the end, seconds."""

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at

    @property
    def unreachable(self) -> ProbeRecord | None:
        """The first probe answered by a destination-unreachable, if any (its reply has
        the code and the sender)."""
        return first_unreachable(self.probes)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTotals:
    """How many probes a part of the run sent, and how long it took."""

    sent: int
    answered: int
    """Probes that got any reply."""
    seconds: float
    """From the first probe to the end, on the driver's clock."""


def totals(*parts: ProbeRun) -> ProbeTotals:
    """The probe totals over the engines' results `parts` (at least one)."""
    records: list[ProbeRecord] = [r for part in parts for r in part.probes]
    return ProbeTotals(
        sent=len(records),
        answered=sum(1 for r in records if r.reply is not None),
        seconds=max(p.ended_at for p in parts) - min(p.started_at for p in parts),
    )


NEIGHBOUR_GRACE = 3.2
"""Seconds of silence before "nothing answers" is believed. A router whose neighbour
discovery for the destination fails answers host-unreachable only when it gives up
(Linux: `mcast_solicit` 3 probes, `retrans_time` 1 s apart: 3 s), so silence before
that may still turn into `!H`; the margin covers the ICMP's way back."""

RunT = TypeVar("RunT", bound=ProbeRun)
"""An engine's result type."""


class ProbeEngine(ProbeSchedule[tuple[int, int], SearchStop], Generic[RunT]):
    """Base of the engines: subclasses implement `_plan`, `_observe`, `_settled`, `_result`.

    An engine's state is what it has filed, and what ends it is data: `STOPS` says
    which outcomes stop it at once and with what reason; `_settled` decides the
    rest from the evidence.
    """

    WHAT: ClassVar[str] = "the engine"
    """The engine in messages ("the sweep")."""
    STOPS: ClassVar[dict[ProbeOutcome, SearchStop]] = {ProbeOutcome.LOCAL_ERROR: SearchStop.ERROR}
    """Outcomes that end the engine at once -> the stop reason; earlier entries win."""

    def __init__(
        self,
        *,
        dst: IPAddress,
        kind: ProbeKind = ProbeKind.ECHO,
        dport: int | None = None,
        limits: Limits | None = None,
        first_id: int = 1,
        rtt: RttEstimator | None = None,
    ) -> None:
        super().__init__(limits=limits or Limits(), first_id=first_id, rtt=rtt)
        self.dst = dst
        self.family = dst.version
        self.kind = kind
        self.dport = dport
        self._stopped_by: set[ProbeOutcome] = set()
        """The `STOPS` outcomes seen so far."""
        self.grace = NEIGHBOUR_GRACE
        """Seconds after the start before silence alone may end the engine (`_hold_until`)."""
        self._now = 0.0
        """The driver time of the latest event."""
        self._held: float | None = None
        """While the engine waits out `_hold_until` with nothing in flight: until when."""
        # Check the caller's target once, the way every probe will be checked.
        Probe(id=0, family=self.family, dst=dst, size=100, ttl=1, kind=kind, dport=dport)

    def _take(self, reply: Reply) -> tuple[Probe, float] | None:
        """A probe in flight, or one already filed as lost: a late reply replaces that
        verdict (the probe did get an answer, and what it proves still holds)."""
        taken = super()._take(reply)
        if taken is not None:
            return taken
        old = self._records.get(reply.probe_id)
        if old is None or old.outcome is not ProbeOutcome.LOST or self._stop is not None:
            return None
        return old.probe, old.sent_at

    # -- for subclasses ---------------------------------------------------------------------

    def _probe_for(self, key: tuple[int, int], pid: int) -> Probe:
        size, ttl = key
        return Probe(
            id=pid,
            family=self.family,
            dst=self.dst,
            size=size,
            ttl=ttl,
            kind=self.kind,
            dport=self.dport,
        )

    def result(self) -> RunT:
        """The frozen result (its answer, every probe, the stop reason and times).

        Raises:
            UsageError: the engine has not finished.
        """
        self._ended(self.WHAT)
        return self._result()

    def _result(self) -> RunT:
        """The result of the finished engine (through `_build`)."""
        raise NotImplementedError

    def _build(
        self,
        cls: type[RunT],
        *,
        probes: tuple[ProbeRecord, ...] | None = None,
        **answer: Any,
    ) -> RunT:
        """The frozen result of a finished engine: the shared `ProbeRun` fields plus `answer`.

        Args:
            cls: the result class.
            probes: the records to report; default: every probe filed.
            answer: the engine's own fields.
        """
        stop, started_at, ended_at = self._ended(self.WHAT)
        return cls(
            dst=self.dst,
            family=self.family,
            kind=self.kind,
            dport=self.dport,
            stop_reason=stop,
            probes=self.records if probes is None else probes,
            started_at=started_at,
            ended_at=ended_at,
            **answer,
        )

    def _plan(self) -> list[tuple[int, int]]:
        """The next round: `(size, ttl)` pairs; empty when there is nothing more to learn."""
        raise NotImplementedError

    def _classify(self, probe: Probe, reply: Reply) -> ProbeOutcome:
        """File a reply: the destination's answers as REACHED, too-big messages by their MTU."""
        if reply.kind is ReplyKind.TOO_BIG:
            if usable_too_big(self.family, reply.mtu, probe.size):
                return ProbeOutcome.TOO_BIG
            return ProbeOutcome.TOO_BIG_BOGUS
        return OUTCOME_OF_REPLY[reply.kind]

    def _file(self, record: ProbeRecord) -> None:
        if record.outcome in self.STOPS:
            self._stopped_by.add(record.outcome)
        else:
            self._observe(record)

    def _observe(self, record: ProbeRecord) -> None:
        """Learn from a record whose outcome is not in `STOPS`."""
        raise NotImplementedError

    def _settled(self) -> SearchStop | None:
        """A stop reason as soon as the answer is known, even with probes in flight."""
        raise NotImplementedError

    def _final_stop(self) -> SearchStop:
        """The stop reason when `_plan` has nothing more to send."""
        return self._settled() or SearchStop.CONVERGED

    def _hold_until(self) -> float | None:
        """A driver time before which the answer the evidence gives now is not final,
        because it rests on silence that a late unreachable may still explain; None
        when the answer may stand at once (the default)."""
        return None

    def deadline(self) -> float | None:
        """As `ProbeSchedule.deadline`; while holding (`_hold_until`), the hold's end."""
        base = super().deadline()
        if base is not None and self._held is not None and not self._queue and not self._inflight:
            return self._held
        return base

    def _advance(self, now: float) -> None:
        if self._stop is not None:
            return
        self._now = now
        self._held = None
        forced = [stop for outcome, stop in self.STOPS.items() if outcome in self._stopped_by]
        if forced:
            self._finish(now, forced[0])
            return
        settled = self._settled()
        hold = self._hold_until() if settled is not None else None
        if settled is not None and (hold is None or now >= hold):
            self._finish(now, settled)
            return
        if self._queue or self._inflight:
            return
        if settled is not None:
            self._held = hold  # nothing to send: wait for a late reply (deadline() says)
            return
        plan = self._plan()
        if not plan:
            hold = self._hold_until()
            if hold is not None and now < hold:
                self._held = hold
                return
            self._finish(now, self._final_stop())
            return
        left = self.limits.budget - self.sent
        if left <= 0:
            self._finish(now, SearchStop.BUDGET)
            return
        self._queue.extend(plan[:left])
