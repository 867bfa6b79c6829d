"""The driver: the short loop (STYLE.md §2) that runs a sans-IO engine against a transport.

Layer: active/transport (an edge): it reads the clock (time.monotonic, the
clock transports time their `until` on) and blocks in the transport's
`receive`; the engine decides everything else.

Every run is bounded three ways, whatever the engine does:

- a hard wall-clock cap (`max_seconds`): the loop stops there, finished or not;
- a probe budget (`max_probes`): a probe beyond it is never sent and the run
  stops (engines have their own, softer budget in `Limits.budget`);
- a rate limit per destination (`rate` probes per second after a `burst`),
  a token bucket in front of the transport. Engines pace themselves too
  (`Limits.rate`); this one guards the network when several engines share a
  transport. A probe held back by it waits in the driver, and the engine does
  not know: its timeout runs from when it asked, so keep this rate above the
  engines' (the defaults, 50/s here and 20/s in `Limits`, do).

A run that stops early returns `result=None` (engines' `result()` is only
defined once they finish) and says why in `stop`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from mtuscope.active.engine import TokenBucket
from mtuscope.active.probe import IPAddress, Probe, Reply
from mtuscope.errors import UsageError

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Transport(Protocol):
    """What the driver needs of a transport (RawTransport and UdpTransport have it)."""

    def send(self, probe: Probe, now: float | None = None) -> None: ...

    def receive(self, until: float | None) -> Reply | None: ...


class Engine(Protocol[R_co]):
    """What the driver needs of an engine (every `ProbeEngine` subclass has it)."""

    @property
    def finished(self) -> bool: ...

    def probes_due(self, now: float) -> Sequence[Probe]: ...

    def deadline(self) -> float | None: ...

    def on_reply(self, reply: Reply, now: float) -> None: ...

    def on_timeout(self, now: float) -> None: ...

    def result(self) -> R_co: ...


class DriveStop(StrEnum):
    """Why `drive` returned."""

    FINISHED = "finished"
    """The engine finished; `result` holds its answer."""
    WALL_CLOCK = "wall-clock"
    """`max_seconds` ran out first."""
    PROBE_BUDGET = "probe-budget"
    """The engine wanted more than `max_probes` probes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Drive(Generic[R]):
    """How one run went."""

    result: R | None
    """The engine's result; None unless `stop` is FINISHED."""
    stop: DriveStop
    sent: int
    """Probes handed to the transport."""
    replies: int
    """Replies the transport returned (strays included; the engine ignores those)."""
    seconds: float
    """Wall-clock seconds the run took."""


class RateLimiter:
    """A token bucket per destination address."""

    def __init__(self, rate: float, burst: int) -> None:
        if not rate > 0 or burst < 1:
            raise UsageError(f"rate {rate} must be positive and burst {burst} at least 1")
        self._rate = rate
        self._burst = burst
        self._buckets: dict[IPAddress, TokenBucket] = {}

    def _bucket(self, dst: IPAddress) -> TokenBucket:
        if dst not in self._buckets:
            self._buckets[dst] = TokenBucket(self._rate, self._burst)
        return self._buckets[dst]

    def take(self, dst: IPAddress, now: float) -> bool:
        """Spend a token for `dst` at `now` if there is one."""
        return self._bucket(dst).take(now)

    def ready_at(self, dst: IPAddress) -> float:
        """When `dst` next has a token."""
        return self._bucket(dst).ready_at()


def drive(
    engine: Engine[R],
    transport: Transport,
    *,
    max_seconds: float = 60.0,
    max_probes: int = 1000,
    rate: float = 50.0,
    burst: int = 10,
) -> Drive[R]:
    """Run `engine` against `transport` until it finishes or a bound is hit.

    Args:
        engine: a fresh sans-IO engine (PathMtuSearch, HopTrace, DfSweep, ...).
        transport: where probes go and replies come from.
        max_seconds: hard wall-clock cap, seconds.
        max_probes: hard cap on probes sent.
        rate: probes per second per destination, sustained.
        burst: probes per destination that may leave back to back.

    Returns:
        The run: the engine's result if it finished, counts, seconds, why it stopped.

    Raises:
        UsageError: a bound that is not positive.
        ProbeError: the transport failed in a way that is not a reply (e.g. NoRoute).
    """
    if not max_seconds > 0 or max_probes < 1:
        raise UsageError("max_seconds must be positive and max_probes at least 1")
    limiter = RateLimiter(rate, burst)
    start = time.monotonic()
    hard_end = start + max_seconds
    backlog: deque[Probe] = deque()
    sent = replies = 0
    stop: DriveStop | None = None
    while not engine.finished:
        now = time.monotonic()
        if now >= hard_end:
            stop = DriveStop.WALL_CLOCK
            break
        backlog.extend(engine.probes_due(now))
        while backlog and sent < max_probes and limiter.take(backlog[0].dst, now):
            transport.send(backlog.popleft(), now)
            sent += 1
        if backlog and sent >= max_probes:
            stop = DriveStop.PROBE_BUDGET
            break
        until = engine.deadline()
        if until is None:
            until = hard_end
        if backlog:
            until = min(until, limiter.ready_at(backlog[0].dst))
        reply = transport.receive(min(until, hard_end))
        now = time.monotonic()
        if reply is None:
            engine.on_timeout(now)
        else:
            replies += 1
            engine.on_reply(reply, now)
    seconds = time.monotonic() - start
    if stop is None:
        return Drive(
            result=engine.result(),
            stop=DriveStop.FINISHED,
            sent=sent,
            replies=replies,
            seconds=seconds,
        )
    return Drive(result=None, stop=stop, sent=sent, replies=replies, seconds=seconds)
