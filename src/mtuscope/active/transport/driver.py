"""The driver: the short loop (STYLE.md §2) that runs a sans-IO engine against a transport.

Layer: active/transport (an edge). The one clock: the driver reads it (the
`clock` it is given, `time.monotonic` by default; tests pass a simulated one)
and hands `now` to the engine and the transport, and the seconds it may wait
to the transport's `receive`. Transports never read a clock; the engine
decides everything else, pacing included (its `Limits.rate` token bucket: the
driver sends what `probes_due` gives, at once). Bytes go through untouched:
the engine builds each packet (`engine.packet`) from the source address the
transport knows, and matches what a raw transport read (`engine.on_datagram`);
the UDP transport, whose kernel builds and matches, gives finished replies.

Round-trip times: the driver's clock times each reply only as a fallback. A
transport with kernel timestamps returns each packet's transmit stamp from `send`
(handed to the engine's `on_sent`) and puts the receive stamp on each `Datagram`;
the engine's book subtracts the two (the UDP transport does the same on its
finished replies), so per-hop RTTs agree with ping and mtr.

Every run is bounded twice, whatever the engine does:

- a hard wall-clock cap (`max_seconds`): the loop stops there, finished or not;
- a probe budget (`max_probes`): a probe beyond it is never sent and the run
  stops (engines have their own, softer budget in `Limits.budget`).

A run that stops early returns `result=None` (engines' `result()` is only
defined once they finish) and says why in `stop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from mtuscope.active.probe import Datagram, IPAddress, Probe, Reply
from mtuscope.errors import UsageError

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Transport(Protocol):
    """What the driver needs of a transport (RawTransport and UdpTransport have it)."""

    def source(self, dst: IPAddress) -> IPAddress | None:
        """Our address toward `dst` for the packets the engine builds; None when the
        kernel builds them (the UDP transport)."""
        ...

    def send(self, probe: Probe, packet: bytes | None, now: float) -> float | None:
        """Send `probe`; return the kernel's transmit timestamp of it when the transport
        has one (seconds on the kernel's real-time clock, the clock of `Datagram.stamp`),
        else None."""
        ...

    def receive(self, timeout: float) -> Reply | Datagram | None: ...


class Engine(Protocol[R_co]):
    """What the driver needs of an engine (every `ProbeEngine` subclass has it)."""

    @property
    def finished(self) -> bool: ...

    def probes_due(self, now: float) -> Sequence[Probe]: ...

    def deadline(self) -> float | None: ...

    def packet(self, probe: Probe, *, src: IPAddress, now: float) -> bytes: ...

    def on_sent(self, probe: Probe, stamp: float) -> None: ...

    def on_datagram(self, datagram: Datagram, now: float) -> None: ...

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
    """Seconds the run took on the driver's clock."""
    ended_at: float
    """The driver's clock when the run returned (for an engine stopped early)."""


def drive(
    engine: Engine[R],
    transport: Transport,
    *,
    max_seconds: float = 60.0,
    max_probes: int = 1000,
    clock: Callable[[], float] = time.monotonic,
) -> Drive[R]:
    """Run `engine` against `transport` until it finishes or a bound is hit.

    Args:
        engine: a fresh sans-IO engine (PathMtuSearch, HopTrace, DfSweep, ...).
        transport: where probes go and replies come from.
        max_seconds: hard cap, seconds on `clock`.
        max_probes: hard cap on probes sent.
        clock: the one clock of the run (seconds, monotonic).

    Returns:
        The run: the engine's result if it finished, counts, seconds, why it stopped.

    Raises:
        UsageError: a bound that is not positive.
        ProbeError: the transport failed in a way that is not a reply (e.g. NoRoute).
    """
    if not max_seconds > 0 or max_probes < 1:
        raise UsageError("max_seconds must be positive and max_probes at least 1")
    start = now = clock()
    hard_end = start + max_seconds
    sent = replies = 0
    stop: DriveStop | None = None
    while not engine.finished:
        if now >= hard_end:
            stop = DriveStop.WALL_CLOCK
            break
        due = engine.probes_due(now)
        for probe in due[: max_probes - sent]:
            src = transport.source(probe.dst)
            # The clock again per packet: a reply's rtt then starts when its probe left,
            # not when the burst it belongs to was planned.
            packet = None if src is None else engine.packet(probe, src=src, now=clock())
            stamp = transport.send(probe, packet, now)
            if stamp is not None:
                # The kernel's own send time: with the receive stamp of the reply's
                # datagram (same clock), the round trip without this loop in it.
                engine.on_sent(probe, stamp)
        if sent + len(due) > max_probes:
            sent = max_probes
            stop = DriveStop.PROBE_BUDGET
            break
        sent += len(due)
        if engine.finished:
            break
        until = engine.deadline()
        until = hard_end if until is None else min(until, hard_end)
        got = transport.receive(max(0.0, until - now))
        now = clock()
        if got is None:
            engine.on_timeout(now)
        elif isinstance(got, Datagram):
            replies += 1
            engine.on_datagram(got, now)
        else:
            replies += 1
            engine.on_reply(got, now)
    return Drive(
        result=engine.result() if stop is None else None,
        stop=stop or DriveStop.FINISHED,
        sent=sent,
        replies=replies,
        seconds=now - start,
        ended_at=now,
    )
