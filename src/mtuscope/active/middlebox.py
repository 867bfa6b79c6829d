"""Per-hop middlebox detection: TTL-limited TCP SYNs, and what each hop's quote shows.

Layer: active/. Sans-IO (STYLE.md §2): the engine says which probes to send and
files the replies it is given; it never touches a socket, never sleeps and
never reads the clock (`now` is a parameter of every call).

How it works. A router that drops a packet for its TTL sends ICMP
time-exceeded (RFC 792; RFC 4443 §3.3) quoting the packet *as it arrived there*:
Linux quotes as much as fits in 576 bytes (IPv4, RFC 1812 §4.3.2.3) or 1280
(IPv6, RFC 4443 §2.4(c)), so the whole IP and TCP header of a SYN. Sending the
same SYN (known MSS, window scale, SACK-permitted, timestamps, sequence number,
IP id, DF, TOS) with TTL 1, 2, 3 ... and comparing each quote with what was sent
shows where a field changed: between the last hop that quoted it intact and the
first that quoted it changed. A quote that ends inside the TCP header is marked
`too_short` (its options cannot be compared). The destination's SYN/ACK (or
RST) ends the walk. When the destination answered, one ICMP echo with the same
TTL checks that it really is the end of the path: a time-exceeded for it means a
TCP proxy on that hop answered for the destination (it terminates connections
and re-originates them, with its own ISN and options). A second echo with TTL
255 (active/end_check.py `FAR_TTL`) gets the destination's own answer, whose
TTL on arrival says how far away the destination really is.

TTLs go out `window` at a time, each retried up to `Limits.attempts` times when
lost; the run is bounded by `max_ttl`, `Limits.budget` and the per-probe timeout.
The transport must fill `Reply.sent` and `Reply.quote` (RawTransport does).

What is compared, and what is not, is in active/quote_diff.py; the frozen
result and the placing of each change between two hops in active/middlebox_result.py.

What it cannot see: a NAT. Linux (and any NAT following RFC 5508 REQ-3)
translates the packet quoted inside an ICMP error back on its way to the
client, so the quotes show the client's own addresses and ports; only the far
end (a capture there, or `mtuscope responder`) sees the translation.
"""

from __future__ import annotations

from collections import deque

from mtuscope.active.end_check import FAR_TTL, EchoSeen, TcpAnswer, TcpEnd
from mtuscope.active.engine import OUTCOME_OF_REPLY, Limits, ProbeSchedule
from mtuscope.active.middlebox_result import (
    HopQuote,
    MiddleboxResult,
    MiddleboxStop,
    Response,
    Terminated,
    path_changes,
)
from mtuscope.active.probe import (
    IPAddress,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
)
from mtuscope.active.probe_packet import syn_options_len
from mtuscope.active.quote_diff import Value, diff_quote, option_fields
from mtuscope.errors import DecodeError, UsageError
from mtuscope.wire.icmp import ICMP_HEADER
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER
from mtuscope.wire.tcp import TCP_MIN_HEADER, TcpFlags, decode_tcp
from mtuscope.wire.tcp_options import MAX_OPTIONS_LEN

__all__ = ["ECHO_PROBE_SIZE", "MiddleboxTrace", "SYN_PROBE_SIZE"]

_SYN_OPTION_BYTES = syn_options_len(MAX_OPTIONS_LEN)
SYN_PROBE_SIZE = {
    4: IPV4_MIN_HEADER + TCP_MIN_HEADER + _SYN_OPTION_BYTES,
    6: IPV6_HEADER + TCP_MIN_HEADER + _SYN_OPTION_BYTES,
}
"""IP + TCP header + the option bytes the probe builder (active/probe_packet.py) puts
in a SYN with room for all (20): MSS, SACK-permitted, timestamps and window scale."""
ECHO_PROBE_SIZE = {4: IPV4_MIN_HEADER + ICMP_HEADER, 6: IPV6_HEADER + ICMP_HEADER}
"""An ICMP echo request with no payload."""


class MiddleboxTrace(ProbeSchedule[tuple[ProbeKind, int], MiddleboxStop]):
    """The sans-IO engine: TTL-limited SYNs, then one echo to check the end of the path."""

    def __init__(
        self,
        *,
        dst: IPAddress,
        dport: int,
        max_ttl: int = 16,
        window: int = 8,
        limits: Limits | None = None,
        check_relay: bool = True,
        first_id: int = 1,
    ) -> None:
        """Set up a walk (nothing is sent until `probes_due`).

        Args:
            dst: the destination.
            dport: its TCP port.
            max_ttl: highest TTL tried, 1..255.
            window: TTLs in flight at once.
            limits: timeout, rate, attempts per TTL and budget.
            check_relay: send the echo that tells a TCP proxy from the destination.
            first_id: first probe id.

        Raises:
            UsageError: a bad port, TTL limit, window or first id.
        """
        if not 1 <= max_ttl <= 255:
            raise UsageError(f"max TTL {max_ttl} outside 1..255")
        if window < 1:
            raise UsageError(f"window {window} must be at least 1")
        super().__init__(
            limits=limits or Limits(timeout=0.5, rate=200.0, burst=16), first_id=first_id
        )
        self.dst = dst
        self.family = dst.version
        self.dport = dport
        self.max_ttl = max_ttl
        self.window = window
        self.check_relay = check_relay
        # Validates the port and family once, as every probe will be.
        self._make(ProbeKind.TCP_SYN, 1, 0)
        self._attempts: dict[tuple[ProbeKind, int], int] = {}
        self._hop: dict[int, ProbeRecord] = {}
        """TTL -> the record that settled it (a reply, or the last lost attempt)."""
        self._response: ProbeRecord | None = None
        self._end_ttl: int | None = None
        """Smallest TTL answered by the destination or by an unreachable."""
        self._echo: ProbeRecord | None = None
        self._echo_done = False
        self._far: ProbeRecord | None = None
        self._far_done = False
        self._local_error = False
        self._next_ttl = 1

    # -- the driver's interface (`probes_due`, `on_reply`, `deadline`, `halt`: ProbeSchedule)

    def result(self) -> MiddleboxResult:
        """The frozen result.

        Returns:
            What the walk found.

        Raises:
            UsageError: the walk has not finished.
        """
        if self._stop is None:
            raise UsageError("the middlebox walk has not finished")
        last = self._end_ttl - 1 if self._end_ttl is not None else max(self._hop, default=0)
        hops = tuple(self._hop_quote(ttl) for ttl in range(1, last + 1))
        seconds = None
        if self.started_at is not None and self.ended_at is not None:
            seconds = self.ended_at - self.started_at
        return MiddleboxResult(
            dst=self.dst,
            dport=self.dport,
            family=self.family,
            hops=hops,
            changes=path_changes(hops),
            response=self._response_view(),
            terminated=self._terminated(),
            relay_checked=self._echo is not None and self._echo.reply is not None,
            tcp_end=self._tcp_end(),
            stop_reason=self._stop,
            probes=self.records,
            seconds=seconds,
        )

    # -- inside --------------------------------------------------------------------------

    def _classify(self, probe: Probe, reply: Reply) -> ProbeOutcome:
        return _OUTCOMES.get(reply.kind, ProbeOutcome.UNREACHABLE)

    def _lost(self, record: ProbeRecord) -> None:
        """Retry a lost probe while its answer still teaches something and the budget
        allows; else give it up."""
        key = (record.probe.kind, record.probe.ttl)
        if (
            self._attempts.get(key, 0) < self.limits.attempts
            and self._wanted(*key)
            and self.sent + len(self._queue) < self.limits.budget
        ):
            self._queue.append(key)
        else:
            self._file(record)

    def _probe_for(self, key: tuple[ProbeKind, int], pid: int) -> Probe:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        return self._make(*key, pid)

    def _make(self, kind: ProbeKind, ttl: int, pid: int) -> Probe:
        syn = kind is ProbeKind.TCP_SYN
        return Probe(
            id=pid,
            family=self.family,
            dst=self.dst,
            size=(SYN_PROBE_SIZE if syn else ECHO_PROBE_SIZE)[self.family],
            ttl=ttl,
            kind=kind,
            dport=self.dport if syn else None,
        )

    def _wanted(self, kind: ProbeKind, ttl: int) -> bool:
        """Whether an answer for this probe still teaches anything."""
        if kind is ProbeKind.ECHO:
            return not (self._far_done if ttl == FAR_TTL else self._echo_done)
        return ttl not in self._hop and (self._end_ttl is None or ttl < self._end_ttl)

    def _file(self, record: ProbeRecord) -> None:
        probe, reply = record.probe, record.reply
        if probe.kind is ProbeKind.ECHO:
            if probe.ttl == FAR_TTL:
                self._far, self._far_done = record, True
            else:
                self._echo, self._echo_done = record, True
            return
        ttl = probe.ttl
        if reply is not None and reply.kind is ReplyKind.LOCAL_ERROR:
            self._local_error = True
            self._hop.setdefault(ttl, record)
            self._end_ttl = ttl if self._end_ttl is None else min(self._end_ttl, ttl)
            return
        ends = reply is not None and reply.kind is not ReplyKind.TIME_EXCEEDED
        if ends and reply is not None:
            if self._end_ttl is None or ttl < self._end_ttl:
                self._end_ttl = ttl
                self._response = record if reply.reached else None
            return
        if ttl not in self._hop or self._hop[ttl].reply is None:
            self._hop[ttl] = record

    def _settled(self) -> MiddleboxStop | None:
        if self._local_error:
            return MiddleboxStop.LOCAL_ERROR
        end = self._end_ttl
        if end is None:
            if self._next_ttl > self.max_ttl and not self._busy(ProbeKind.TCP_SYN):
                return MiddleboxStop.HOP_LIMIT
            return None
        if any(ttl not in self._hop for ttl in range(1, end)):
            return None
        if self._response is None:
            return MiddleboxStop.UNREACHABLE
        if self.check_relay and not (self._echo_done and (self._far_done or end >= FAR_TTL)):
            return None
        return MiddleboxStop.REACHED

    def _busy(self, kind: ProbeKind) -> bool:
        return any(k is kind for k, _ in self._queue) or any(
            p.kind is kind for p, _ in self._inflight.values()
        )

    def _advance(self, now: float) -> None:
        if self._stop is not None:
            return
        # Drop queued retries that nothing can learn from any more.
        self._queue = deque(key for key in self._queue if self._wanted(*key))
        stop = self._settled()
        if stop is not None:
            self._finish(now, stop)
            return
        open_ttls = {t for k, t in self._queue if k is ProbeKind.TCP_SYN} | {
            p.ttl for p, _ in self._inflight.values() if p.kind is ProbeKind.TCP_SYN
        }
        while (
            self._end_ttl is None
            and self._next_ttl <= self.max_ttl
            and len(open_ttls) < self.window
            and self.sent + len(self._queue) < self.limits.budget
        ):
            self._queue.append((ProbeKind.TCP_SYN, self._next_ttl))
            open_ttls.add(self._next_ttl)
            self._next_ttl += 1
        if (
            self.check_relay
            and self._response is not None
            and self._end_ttl is not None
            and not self._echo_done
            and not self._busy(ProbeKind.ECHO)
            and self._attempts.get((ProbeKind.ECHO, self._end_ttl), 0) == 0
            and self.sent + len(self._queue) < self.limits.budget
        ):
            self._queue.append((ProbeKind.ECHO, self._end_ttl))
        if (
            self.check_relay
            and self._response is not None
            and self._end_ttl is not None
            and self._end_ttl < FAR_TTL
            and not self._far_done
            and self._attempts.get((ProbeKind.ECHO, FAR_TTL), 0) == 0
            and (ProbeKind.ECHO, FAR_TTL) not in self._queue
            and self.sent + len(self._queue) < self.limits.budget
        ):
            self._queue.append((ProbeKind.ECHO, FAR_TTL))
        if not self._queue and not self._inflight:
            # Nothing more can be sent: the budget is spent.
            self._finish(now, MiddleboxStop.BUDGET)

    def _hop_quote(self, ttl: int) -> HopQuote:
        record = self._hop.get(ttl)
        if record is None:
            return HopQuote(
                ttl=ttl, address=None, probe_id=None, outcome=ProbeOutcome.CANCELLED, quote_bytes=0
            )
        reply = record.reply
        if reply is None:
            return HopQuote(
                ttl=ttl,
                address=None,
                probe_id=record.probe.id,
                outcome=record.outcome,
                quote_bytes=0,
            )
        if reply.quote is None or reply.sent is None:
            return HopQuote(
                ttl=ttl,
                address=reply.from_addr,
                probe_id=record.probe.id,
                outcome=record.outcome,
                quote_bytes=0 if reply.quote is None else len(reply.quote),
                too_short=True,
            )
        diff = diff_quote(reply.sent, reply.quote)
        return HopQuote(
            ttl=ttl,
            address=reply.from_addr,
            probe_id=record.probe.id,
            outcome=record.outcome,
            quote_bytes=len(reply.quote),
            changed=diff.changed,
            compared=diff.compared,
            too_short=diff.too_short,
        )

    def _response_view(self) -> Response | None:
        record = self._response
        if record is None or record.reply is None:
            return None
        reply = record.reply
        fields: tuple[tuple[str, Value], ...] = ()
        syn_ack = True
        if reply.segment is not None:
            try:
                segment = decode_tcp(reply.segment)
            except DecodeError:
                segment = None
            if segment is not None:
                syn_ack = bool(segment.flags & TcpFlags.SYN)
                if syn_ack:
                    fields = tuple(option_fields(segment.options).items())
        return Response(
            probe_id=record.probe.id,
            ttl=record.probe.ttl,
            address=reply.from_addr,
            syn_ack=syn_ack,
            reply_ttl=reply.ttl,
            fields=fields,
        )

    def _tcp_end(self) -> TcpEnd | None:
        """The SYN/ACK and the two echoes, for the TCP proxy check (diagnose/)."""
        record = self._response
        if record is None or record.reply is None:
            return None
        view = self._response_view()
        tcp = TcpAnswer(
            probe_id=record.probe.id,
            probe_ttl=record.probe.ttl,
            address=record.reply.from_addr,
            reply_ttl=record.reply.ttl,
            syn_ack=view.syn_ack if view is not None else True,
        )
        return TcpEnd(
            dst=self.dst,
            dport=self.dport,
            tcp=tcp,
            same_ttl=EchoSeen.of(self._echo) if self._echo is not None else None,
            far=EchoSeen.of(self._far) if self._far is not None else None,
        )

    def _terminated(self) -> Terminated | None:
        echo, response = self._echo, self._response
        if echo is None or echo.reply is None or response is None:
            return None
        if echo.reply.kind is not ReplyKind.TIME_EXCEEDED:
            return None
        return Terminated(
            ttl=echo.probe.ttl,
            address=echo.reply.from_addr,
            probe_id=echo.probe.id,
            syn_ack_probe=response.probe.id,
        )


_OUTCOMES: dict[ReplyKind, ProbeOutcome] = {
    **OUTCOME_OF_REPLY,
    ReplyKind.TOO_BIG: ProbeOutcome.TOO_BIG,
}
"""The engines' filing, but a too-big counts as such whatever its MTU (the walk sizes no probes)."""
