"""Who answers TCP for the destination: two ICMP echoes against the SYN/ACK.

Layer: active/. Sans-IO (STYLE.md §2): `EndCheck` says which probes to send and
files the replies it is given; it never touches a socket or reads the clock.

A TCP proxy (a transparent proxy, a SYN-proxying load balancer or firewall, a WAN
optimiser) answers a SYN itself, with the destination's address, and opens its
own connection onward. Its SYN/ACK therefore comes from nearer than the
destination, and from another stack. Two ICMP echoes to the destination tell:

- one with the TTL at which the SYN got its SYN/ACK: a time-exceeded for it
  means the echo had not reached the destination where TCP was already answered
  (the router that sends it is on the proxy's hop);
- one with TTL 255 (`FAR_TTL`): the destination's own echo reply, whose TTL on
  arrival tells how many hops back it came (against the SYN/ACK's).

`TcpEnd` gathers the SYN/ACK and these answers, whichever verb measured them
(`middlebox`, `probe`, `trace`); diagnose/rules/tcp_proxy.py reads the signs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mtuscope.active.engine import Limits, ProbeSchedule
from mtuscope.active.probe import (
    IP_HEADER,
    IPAddress,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
)
from mtuscope.errors import UsageError
from mtuscope.wire.icmp import ICMP_HEADER

__all__ = ["FAR_TTL", "EchoSeen", "EndCheck", "EndCheckResult", "TcpAnswer", "TcpEnd", "tcp_answer"]

FAR_TTL = 255
"""TTL of the echo that must reach the destination: the largest (RFC 791; RFC 8200 §3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoSeen:
    """One ICMP echo sent toward the destination, and what answered it."""

    probe_id: int
    probe_ttl: int
    """The TTL / hop limit it was sent with."""
    kind: ReplyKind | None
    """ECHO_REPLY, TIME_EXCEEDED, ...; None when it was lost."""
    address: IPAddress | None
    """Who answered (the destination, or the router where it expired)."""
    reply_ttl: int | None
    """TTL / hop limit the answer arrived with."""

    @classmethod
    def of(cls, record: ProbeRecord) -> EchoSeen:
        """The view of a filed echo probe."""
        reply = record.reply
        return cls(
            probe_id=record.probe.id,
            probe_ttl=record.probe.ttl,
            kind=reply.kind if reply is not None else None,
            address=reply.from_addr if reply is not None else None,
            reply_ttl=reply.ttl if reply is not None else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpAnswer:
    """The SYN/ACK (or RST) a TCP SYN probe got, at the smallest TTL that got one."""

    probe_id: int
    probe_ttl: int
    """TTL of the SYN that got it."""
    address: IPAddress | None
    """The address it came from (the destination's, even from a proxy)."""
    reply_ttl: int | None
    """TTL / hop limit it arrived with."""
    syn_ack: bool = True


def tcp_answer(records: Iterable[ProbeRecord]) -> TcpAnswer | None:
    """The TCP answer to the SYN probe with the smallest TTL that got one.

    Args:
        records: probes of any kinds (only TCP SYNs answered by TCP count).

    Returns:
        The answer, or None when no SYN probe was answered by TCP.
    """
    best: ProbeRecord | None = None
    for r in records:
        reply = r.reply
        if r.probe.kind is not ProbeKind.TCP_SYN or reply is None:
            continue
        if reply.kind is not ReplyKind.TCP_RESPONSE:
            continue
        if best is None or (r.probe.ttl, r.probe.id) < (best.probe.ttl, best.probe.id):
            best = r
    if best is None or best.reply is None:
        return None
    return TcpAnswer(
        probe_id=best.probe.id,
        probe_ttl=best.probe.ttl,
        address=best.reply.from_addr,
        reply_ttl=best.reply.ttl,
        syn_ack=best.reply.tcp_options is not None or best.reply.segment is None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpEnd:
    """The TCP answer for a destination and the echoes that tell who sent it."""

    dst: IPAddress
    dport: int | None
    tcp: TcpAnswer
    same_ttl: EchoSeen | None
    """The echo sent with the TTL that got the TCP answer; None when not sent."""
    far: EchoSeen | None
    """The echo sent with `FAR_TTL`; None when not sent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndCheckResult:
    """The two echoes' answers."""

    dst: IPAddress
    same_ttl: EchoSeen | None
    far: EchoSeen | None
    stop_reason: SearchStop
    probes: tuple[ProbeRecord, ...]

    def tcp_end(self, tcp: TcpAnswer, dport: int | None) -> TcpEnd:
        """These answers with the TCP answer they check."""
        return TcpEnd(dst=self.dst, dport=dport, tcp=tcp, same_ttl=self.same_ttl, far=self.far)


class EndCheck(ProbeSchedule[int, SearchStop]):
    """Two echoes to `dst`: one with `ttl` (where TCP was answered), one with `FAR_TTL`."""

    def __init__(
        self, *, dst: IPAddress, ttl: int, limits: Limits | None = None, first_id: int = 1
    ) -> None:
        """Set up the check (nothing is sent until `probes_due`).

        Args:
            dst: the destination.
            ttl: the TTL at which a SYN to `dst` was answered, 1..255.
            limits: timeout, rate, attempts per echo and budget.
            first_id: first probe id.

        Raises:
            UsageError: a TTL outside 1..255 or a bad first id.
        """
        if not 1 <= ttl <= 255:
            raise UsageError(f"TTL {ttl} outside 1..255")
        super().__init__(limits=limits or Limits(timeout=1.0, budget=4), first_id=first_id)
        self.dst = dst
        self.ttl = ttl
        # An answer at TTL 255 needs no second echo to tell where the path ends.
        self._wanted = [ttl] if ttl == FAR_TTL else [ttl, FAR_TTL]
        self._attempts: dict[int, int] = {}
        self._done: dict[int, ProbeRecord] = {}

    def result(self) -> EndCheckResult:
        """The frozen result.

        Raises:
            UsageError: the check has not finished.
        """
        stop, _, _ = self._ended("the echo check")
        same = self._done.get(self.ttl)
        far = self._done.get(FAR_TTL) if self.ttl != FAR_TTL else None
        return EndCheckResult(
            dst=self.dst,
            same_ttl=EchoSeen.of(same) if same is not None else None,
            far=EchoSeen.of(far) if far is not None else None,
            stop_reason=stop,
            probes=self.records,
        )

    def _probe_for(self, key: int, pid: int) -> Probe:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        family = self.dst.version
        return Probe(
            id=pid,
            family=family,
            dst=self.dst,
            size=IP_HEADER[family] + ICMP_HEADER,
            ttl=key,
            kind=ProbeKind.ECHO,
        )

    def _classify(self, probe: Probe, reply: Reply) -> ProbeOutcome:
        if reply.kind is ReplyKind.ECHO_REPLY:
            return ProbeOutcome.REACHED
        if reply.kind is ReplyKind.TIME_EXCEEDED:
            return ProbeOutcome.TIME_EXCEEDED
        return ProbeOutcome.UNREACHABLE

    def _file(self, record: ProbeRecord) -> None:
        ttl = record.probe.ttl
        if ttl not in self._done or self._done[ttl].reply is None:
            self._done[ttl] = record

    def _lost(self, record: ProbeRecord) -> None:
        ttl = record.probe.ttl
        if self._attempts.get(ttl, 0) < self.limits.attempts and self._room():
            self._queue.append(ttl)
        else:
            self._file(record)

    def _room(self) -> bool:
        return self.sent + len(self._queue) < self.limits.budget

    def _advance(self, now: float) -> None:
        if self._stop is not None:
            return
        for ttl in self._wanted:
            if ttl not in self._attempts and self._room():
                self._queue.append(ttl)
                self._attempts[ttl] = 0
        if all(ttl in self._done for ttl in self._wanted):
            self._finish(now, SearchStop.CONVERGED)
        elif not self._queue and not self._inflight:
            self._finish(now, SearchStop.BUDGET)
