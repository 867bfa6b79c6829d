"""The machinery every probe engine shares: dispatch, rate limit, timeouts, budget.

Layer: active/. Sans-IO (STYLE.md §2, after aioquic's `QuicConnection`): an engine
never touches a socket, never sleeps and never reads the clock. It takes bytes
and `now` (float seconds on any monotonic clock) and gives bytes back; the
driver passes them:

    while not engine.finished:
        now = clock()
        for probe in engine.probes_due(now):
            packet = engine.packet(probe, src=transport.source(probe.dst), now=clock())
            transport.send(probe, packet, now)
        got = transport.receive(timeout=engine.deadline() - now)
        if got is None:
            engine.on_timeout(clock())
        elif isinstance(got, Datagram):        # bytes a raw socket read
            engine.on_datagram(got, clock())   # the engine's ProbeBook matches them
        else:                                  # the UDP transport's kernel matched it
            engine.on_reply(got, clock())
    result = engine.result()

(active/transport/driver.py is that loop, with its bounds.) Pacing happens here
only: the engine's token bucket (`Limits.rate`, `Limits.burst`) decides when a
queued probe is due; the driver sends what is due at once.

`ProbeSchedule` is that shared part: it sends queued probes no faster than the
rate limit allows, expires them after the per-probe timeout (fixed, or adapted
to the path's RTT: rtt.py), builds their
packets and matches what comes back (its `ProbeBook`), and can be halted from
outside. The size engines build on it in size_engine.py, the middlebox walk in
middlebox.py. Every loop is bounded by the budget: each round sends at least
one probe.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from mtuscope.active.matching import ProbeBook
from mtuscope.active.probe import (
    Datagram,
    IPAddress,
    Probe,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
)
from mtuscope.active.probe_packet import encode_probe
from mtuscope.active.rtt import MIN_TIMEOUT, RttEstimator
from mtuscope.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How hard an engine may probe one destination."""

    timeout: float = 1.0
    """Seconds to wait for each probe's reply; with an `RttEstimator` (rtt.py), the cap
    of the adaptive timeout and the wait before the path has given an RTT sample."""
    min_timeout: float = MIN_TIMEOUT
    """The adaptive timeout's floor, seconds (used only with an `RttEstimator`)."""
    rate: float = 20.0
    """Probes per second to the destination, sustained: modest by default."""
    burst: int = 14
    """Probes that may leave back to back before the rate applies (one table round up to
    1500 with its two floor probes)."""
    budget: int = 120
    """Probes in total; the engine stops with `SearchStop.BUDGET` when they are spent."""
    attempts: int = 2
    """Silent probes needed before a size counts as not getting through (loss vs filtering)."""
    flow: int | None = None
    """Probe one flow: the same source port (echo identifier) for every probe, and for
    every engine given this flow id (`ProbeBook.for_flow`); None: ports vary per probe."""

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError(f"probe timeout must be positive, not {self.timeout}")
        if not self.min_timeout > 0:
            raise UsageError(f"the timeout's floor must be positive, not {self.min_timeout}")
        if not self.rate > 0:
            raise UsageError(f"probe rate must be positive, not {self.rate}")
        if self.burst < 1 or self.budget < 1 or self.attempts < 1:
            raise UsageError("burst, budget and attempts must be at least 1")


_EPSILON = 1e-9
"""Tolerance for float refills, so a token due "now" is never a hair short."""


class TokenBucket:
    """Rate limit per destination: `burst` tokens, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        if self._last is None or now > self._last:
            self._last = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one at `now`."""
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def ready_at(self) -> float:
        """When the next token will be there (the refill is linear, so no `now` is needed)."""
        last = self._last if self._last is not None else 0.0
        if self._tokens >= 1.0 - _EPSILON:
            return last
        return last + (1.0 - self._tokens) / self._rate


OUTCOME_OF_REPLY: dict[ReplyKind, ProbeOutcome] = {
    ReplyKind.ECHO_REPLY: ProbeOutcome.REACHED,
    ReplyKind.TCP_RESPONSE: ProbeOutcome.REACHED,
    ReplyKind.UDP_RESPONSE: ProbeOutcome.REACHED,
    ReplyKind.PORT_UNREACHABLE: ProbeOutcome.REACHED,
    ReplyKind.TIME_EXCEEDED: ProbeOutcome.TIME_EXCEEDED,
    ReplyKind.UNREACHABLE: ProbeOutcome.UNREACHABLE,
    ReplyKind.LOCAL_ERROR: ProbeOutcome.LOCAL_ERROR,
}
"""How each reply kind is filed (too-big messages depend on their MTU: `_classify`)."""


KeyT = TypeVar("KeyT")
"""What an engine queues for each probe it plans: `(size, ttl)`, `(kind, ttl)`, ..."""
StopT = TypeVar("StopT")
"""The enum an engine gives as its reason to stop."""


class ProbeSchedule(Generic[KeyT, StopT]):
    """The bookkeeping every engine shares: queue, rate limit, probes in flight, records, stop.

    Subclasses queue keys (one per probe to send) and implement `_probe_for` (key and
    id -> `Probe`), `_classify` and `_file` (what a reply or a loss teaches) and
    `_advance` (plan on, or `_finish`); `_take` and `_lost` say which late replies
    count and whether a lost probe is retried.
    """

    def __init__(
        self,
        *,
        limits: Limits,
        first_id: int,
        book: ProbeBook | None = None,
        rtt: RttEstimator | None = None,
    ) -> None:
        """Set up empty books.

        Args:
            limits: timeout, rate, burst, budget and attempts.
            first_id: the first probe id.
            book: the wire identities of this engine's probes (matching.py); None for a
                book with a random echo identifier and source-port base.
            rtt: the path's RTT estimate, shared with the run's other engines: the
                destination's answers feed it and the timeout adapts to it (rtt.py);
                None: every probe waits `limits.timeout`.

        Raises:
            UsageError: `first_id` is below 1.
        """
        if first_id < 1:
            raise UsageError(f"probe ids start at 1 or more, not {first_id}")
        self.limits = limits
        rng = random.Random()
        if book is None and limits.flow is not None:
            book = ProbeBook.for_flow(limits.flow, rng=rng)
        elif book is None:  # (not `book or`: an empty book is falsy, it has a length)
            book = ProbeBook(
                ident=rng.randrange(1, 0x10000), port_base=rng.randrange(33434, 61439), rng=rng
            )
        self.book = book
        """The probes this engine sent, by every key a reply may carry back."""
        self.rtt = rtt
        """The path's RTT estimate (None: the fixed `limits.timeout`)."""
        self._bucket = TokenBucket(limits.rate, limits.burst)
        self._queue: deque[KeyT] = deque()
        self._inflight: dict[int, tuple[Probe, float]] = {}
        self._records: dict[int, ProbeRecord] = {}
        self._first_id = first_id
        self._next_id = first_id
        self._stop: StopT | None = None
        self.started_at: float | None = None
        """Driver time of the first `probes_due` call."""
        self.ended_at: float | None = None
        """Driver time the engine finished."""

    # -- the driver's interface ------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the engine has its answer (or gave up); `result()` is then final."""
        return self._stop is not None

    @property
    def sent(self) -> int:
        """Probes sent so far."""
        return self._next_id - self._first_id

    @property
    def timeout(self) -> float:
        """Seconds a probe waits for its reply now: `limits.timeout`, or with an RTT
        estimate the adaptive timeout (rtt.py) within `limits.min_timeout` and
        `limits.timeout`. Probes in flight are judged by the current value, so the
        first answers of a round shorten the wait of the silent ones sent with them."""
        if self.rtt is None:
            return self.limits.timeout
        return self.rtt.timeout(floor=self.limits.min_timeout, cap=self.limits.timeout)

    def probes_due(self, now: float) -> list[Probe]:
        """The probes to send at `now` (possibly none: rate limit or waiting for replies).

        Args:
            now: driver clock, seconds.

        Returns:
            Probes to hand to the transport now, in order.
        """
        if self.started_at is None:
            self.started_at = now
            self._advance(now)
        out: list[Probe] = []
        while self._queue and self._stop is None and self._bucket.take(now):
            probe = self._probe_for(self._queue.popleft(), self._next_id)
            self._next_id += 1
            self._inflight[probe.id] = (probe, now)
            out.append(probe)
        return out

    def packet(self, probe: Probe, *, src: IPAddress, now: float) -> bytes:
        """The whole IP packet of `probe` (from `probes_due`), from `src`, sent at `now`.

        A raw transport sends these bytes; replies to them come back through
        `on_datagram`, timed from `now` (A transport whose kernel builds the packets
        needs none; its replies are timed from `probes_due`.)
        """
        return encode_probe(self.book.register(probe, src=src, sent_at=now))

    def on_sent(self, probe: Probe, stamp: float) -> None:
        """The kernel's transmit timestamp of `probe`'s packet (from the transport): a
        reply whose datagram has a receive stamp is timed by the two, not by `now`."""
        self.book.stamp_sent(probe.id, stamp)

    def on_datagram(self, datagram: Datagram, now: float) -> None:
        """Match bytes a raw transport read to a probe of ours and file them (strays are
        ignored).

        Args:
            datagram: what was read.
            now: driver clock, seconds.
        """
        matched = self.book.match(datagram, received_at=now)
        if matched is not None:
            self.on_reply(matched.reply, now)

    def on_reply(self, reply: Reply, now: float) -> None:
        """File a reply to one of this engine's probes; strays are ignored.

        Which replies count is `_take`'s choice, how each is filed `_classify`'s
        and `_file`'s; then the engine plans on.

        Args:
            reply: what came back.
            now: driver clock, seconds.
        """
        taken = self._take(reply)
        if taken is None:
            return
        probe, sent = taken
        record = ProbeRecord(
            probe=probe,
            sent_at=sent,
            reply=reply,
            replied_at=now,
            outcome=self._classify(probe, reply),
        )
        if self.rtt is not None and record.outcome is ProbeOutcome.REACHED:
            # Only the destination's answers: a router's come from nearer (rtt.py).
            if record.rtt is not None:
                self.rtt.sample(record.rtt)
        self._records[probe.id] = record
        self._file(record)
        self._advance(now)

    def on_timeout(self, now: float) -> None:
        """Expire every probe whose deadline has passed (each goes to `_lost`); then plan on.

        Args:
            now: driver clock, seconds.
        """
        for record in self._expire(now):
            self._lost(record)
        self._advance(now)

    def deadline(self) -> float | None:
        """When the engine next needs `on_timeout` (or `probes_due`), or None when finished.

        Returns:
            Driver-clock seconds: the earliest probe deadline, or when the next queued
            probe may leave under the rate limit; None once finished.
        """
        if self._stop is not None:
            return None
        timeout = self.timeout
        times = [sent + timeout for _, sent in self._inflight.values()]
        if self._queue or not times:
            # Queued probes wait for a token; before the first call, "now" is due.
            times.append(self._bucket.ready_at())
        return min(times)

    @property
    def records(self) -> tuple[ProbeRecord, ...]:
        """Every probe filed so far, in the order sent."""
        return tuple(self._records[k] for k in sorted(self._records))

    @property
    def stop_reason(self) -> StopT | None:
        return self._stop

    # -- for subclasses ---------------------------------------------------------------------

    def _probe_for(self, key: KeyT, pid: int) -> Probe:
        """The probe a queued key stands for, with id `pid` (called as it is sent)."""
        raise NotImplementedError

    def _advance(self, now: float) -> None:
        """Stop, or queue the next probes, after anything was filed."""
        raise NotImplementedError

    def _take(self, reply: Reply) -> tuple[Probe, float] | None:
        """The probe `reply` answers and when it left, or None to ignore the reply;
        by default only a probe still in flight (taken out of the flight)."""
        return self._inflight.pop(reply.probe_id, None)

    def _classify(self, probe: Probe, reply: Reply) -> ProbeOutcome:
        """The outcome `reply` gives `probe`."""
        raise NotImplementedError

    def _file(self, record: ProbeRecord) -> None:
        """Learn from a record (a reply, or a probe given up as lost)."""
        raise NotImplementedError

    def _lost(self, record: ProbeRecord) -> None:
        """A probe whose timeout passed: filed as lost by default (an engine may retry)."""
        self._file(record)

    def _expire(self, now: float) -> list[ProbeRecord]:
        """File every probe whose timeout passed by `now` as lost; return those records."""
        timeout = self.timeout
        expired = [pid for pid, (_, sent) in self._inflight.items() if sent + timeout <= now]
        out: list[ProbeRecord] = []
        for pid in expired:
            probe, sent = self._inflight.pop(pid)
            record = ProbeRecord(
                probe=probe, sent_at=sent, reply=None, replied_at=None, outcome=ProbeOutcome.LOST
            )
            self._records[pid] = record
            out.append(record)
        return out

    def halt(self, now: float, stop: StopT) -> None:
        """Stop from outside (the driver's time or probe cap ran out): `result()` is then
        defined and says `stop`; probes in flight are filed as cancelled.

        Args:
            now: driver clock, seconds.
            stop: the reason to report (`SearchStop.TIME`, `SearchStop.BUDGET`, ...).
        """
        if self._stop is None:
            if self.started_at is None:
                self.started_at = now
            self._finish(now, stop)

    def _finish(self, now: float, stop: StopT) -> None:
        """Stop: cancel the probes still in flight and drop the queue."""
        for pid, (probe, sent) in self._inflight.items():
            self._records[pid] = ProbeRecord(
                probe=probe,
                sent_at=sent,
                reply=None,
                replied_at=None,
                outcome=ProbeOutcome.CANCELLED,
            )
        self._inflight.clear()
        self._queue.clear()
        self._stop = stop
        self.ended_at = now

    def _ended(self, what: str) -> tuple[StopT, float, float]:
        """The stop reason and the driver-clock start and end of a finished run.

        Args:
            what: the run, for the message ("the sweep").

        Raises:
            UsageError: the run has not finished.
        """
        if self._stop is None or self.started_at is None or self.ended_at is None:
            raise UsageError(f"{what} has not finished")
        return self._stop, self.started_at, self.ended_at
