"""A network path in memory that answers `Probe`s the way real routers do (STYLE.md §8).

The host is node 0, the routers are nodes 1..n-1 and the destination is node n.
`hop_mtus[i]` is the MTU of the link from node i to node i+1. A probe travels link
by link:

- node i (i >= 1) about to send a packet larger than link i's MTU answers with a
  too-big message carrying that MTU (`icmp="sent"`), says nothing
  (`icmp="blocked"`), or sends one with a useless MTU (`icmp="bogus-mtu"`);
- the host itself refuses sizes above its own interface MTU (EMSGSIZE, no
  address); sizes its interface accepts but link 0 cannot carry vanish (a
  mismatch on the host's first link);
- a router whose TTL runs out sends time-exceeded (Linux checks the TTL before
  the MTU of the next link, as `ip_forward` does);
- the destination answers the probe kinds in `answers` and ignores the rest;
- each probe is lost (going or coming back) with probability `loss`, from `seed`.

`FakeTransport(path)` makes the path a transport on a simulated clock (`clock`,
`send`, `receive`), so `run(engine, path)` is the real driver
(`active.transport.drive`) with `clock=transport.clock`: the tests and the CLI
share one driver.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

from mtuscope.active.probe import IPAddress, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.transport import Drive, Engine, drive

_ANSWER = {
    ProbeKind.ECHO: ReplyKind.ECHO_REPLY,
    ProbeKind.TCP_SYN: ReplyKind.TCP_RESPONSE,
    ProbeKind.UDP: ReplyKind.PORT_UNREACHABLE,
}


def router(family: int, hop: int) -> IPAddress:
    """Address of router `hop` (documentation prefixes only)."""
    if family == 4:
        return IPv4Address(f"198.51.100.{hop}")
    return IPv6Address(f"2001:db8:1::{hop:x}")


def destination(family: int) -> IPAddress:
    return ip_address("203.0.113.10" if family == 4 else "2001:db8:2::10")


@dataclass
class FakePath:
    hop_mtus: list[int]
    icmp: str = "sent"
    """"sent", "blocked" (too-big withheld; time-exceeded still sent) or "bogus-mtu"."""
    family: int = 4
    local_mtu: int | None = None
    """The host's interface MTU; defaults to `hop_mtus[0]`."""
    loss: float = 0.0
    seed: int = 0
    answers: frozenset[ProbeKind] = frozenset(ProbeKind)
    bogus_mtu: int = 0
    time_exceeded: bool = True
    mute: frozenset[int] = frozenset()
    """Routers (by hop number) that send no ICMP at all ("*" in a traceroute)."""
    hop_delay: float = 0.004
    """One-way seconds per link."""
    byte_delay: float = 0.0
    """One-way seconds per byte of the probe (a slow link's serialization: an answer to
    a large probe comes later than one to a small probe)."""
    unreachable_at: int | None = None
    """A router (by hop number) past which the path ends: it answers every probe meant to
    go further with host-unreachable (code 1) after `unreachable_delay`, as a router
    whose neighbour discovery for the destination fails."""
    unreachable_delay: float = 3.0
    sent: list[Probe] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if self.local_mtu is None:
            self.local_mtu = self.hop_mtus[0]

    @property
    def dst(self) -> IPAddress:
        return destination(self.family)

    @property
    def true_pmtu(self) -> int:
        assert self.local_mtu is not None
        return min(self.local_mtu, *self.hop_mtus)

    def hop_mtu(self, hop: int) -> int:
        """The true MTU toward hop `hop` (1-based; the destination is hop len(hop_mtus))."""
        assert self.local_mtu is not None
        return min(self.local_mtu, *self.hop_mtus[:hop])

    def send(self, probe: Probe) -> tuple[float, Reply] | None:
        """What comes back for `probe`, after how many seconds; None for silence."""
        self.sent.append(probe)
        assert self.local_mtu is not None
        if probe.size > self.local_mtu:
            return 0.0, Reply(
                probe_id=probe.id, kind=ReplyKind.TOO_BIG, from_addr=None, mtu=self.local_mtu
            )
        if self.loss and self._rng.random() < self.loss:
            return None
        n = len(self.hop_mtus)
        for node in range(n + 1):
            back = 2 * self.hop_delay * max(node, 1) + 2 * self.byte_delay * probe.size
            if node == n:
                if probe.kind not in self.answers:
                    return None
                return back, Reply(
                    probe_id=probe.id, kind=_ANSWER[probe.kind], from_addr=self.dst, ttl=65 - n
                )
            if node >= 1 and node == self.unreachable_at and probe.ttl > node:
                return back + self.unreachable_delay, Reply(
                    probe_id=probe.id,
                    kind=ReplyKind.UNREACHABLE,
                    from_addr=router(self.family, node),
                    ttl=65 - node,
                    code=1,
                )
            if node >= 1 and probe.ttl <= node:
                if not self.time_exceeded or node in self.mute:
                    return None
                return back, Reply(
                    probe_id=probe.id,
                    kind=ReplyKind.TIME_EXCEEDED,
                    from_addr=router(self.family, node),
                    ttl=65 - node,
                )
            if probe.size > self.hop_mtus[node]:
                if node == 0 or self.icmp == "blocked" or node in self.mute:
                    return None
                mtu = self.hop_mtus[node] if self.icmp == "sent" else self.bogus_mtu
                return back, Reply(
                    probe_id=probe.id,
                    kind=ReplyKind.TOO_BIG,
                    from_addr=router(self.family, node),
                    mtu=mtu,
                    ttl=65 - node,
                )
        raise AssertionError("unreachable")


class FakeTransport:
    """A `FakePath` as a transport (active.transport.driver.Transport) on a simulated clock."""

    def __init__(self, path: FakePath, *, now: float = 100.0) -> None:
        self.path = path
        self.now = now
        """The simulated clock, seconds; only `receive` moves it (as waiting does)."""
        self._pending: list[tuple[float, int, Reply]] = []

    def clock(self) -> float:
        return self.now

    def source(self, dst: IPAddress) -> None:
        """None: the fake path needs no packet bytes (it answers the `Probe` itself)."""
        return None

    def send(self, probe: Probe, packet: bytes | None, now: float) -> None:
        """Send `probe` at `now`; its answer, if any, is due after the path's delay."""
        answer = self.path.send(probe)
        if answer is not None:
            heapq.heappush(self._pending, (now + answer[0], probe.id, answer[1]))

    def receive(self, timeout: float) -> Reply | None:
        """The next answer due within `timeout` seconds (the clock moves to it), or None
        after waiting the whole `timeout`."""
        until = self.now + timeout
        if self._pending and self._pending[0][0] <= until:
            at, _, reply = heapq.heappop(self._pending)
            self.now = max(self.now, at)
            return reply
        self.now = max(self.now, until)
        return None


@dataclass
class RunStats:
    seconds: float
    probes: int


def run(engine: Engine[object], path: FakePath, *, start: float = 100.0) -> RunStats:
    """Drive `engine` against `path` with the real driver on the path's clock.

    The clock starts at `start` (an engine run after another starts later).
    """
    transport = FakeTransport(path, now=start)
    done: Drive[object] = drive(
        engine, transport, max_seconds=1e6, max_probes=1_000_000, clock=transport.clock
    )
    assert engine.finished, "the engine did not finish"
    return RunStats(seconds=done.seconds, probes=done.sent)
