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
and re-originates them, with its own ISN and options).

TTLs go out `window` at a time, each retried up to `Limits.attempts` times when
lost; the run is bounded by `max_ttl`, `Limits.budget` and the per-probe timeout.
The transport must fill `Reply.sent` and `Reply.quote` (RawTransport does).

The IPv6 flow label is not compared: the sending kernel may set one of its own
(net.ipv6.auto_flowlabels), so it differs from the built packet without any
middlebox. TTL / hop limit and checksums change at every hop by design and are
never compared either.

What it cannot see: a NAT. Linux (and any NAT following RFC 5508 REQ-3)
translates the packet quoted inside an ICMP error back on its way to the
client, so the quotes show the client's own addresses and ports; only the far
end (a capture there, or `mtuscope responder`) sees the translation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from mtuscope.active.engine import OUTCOME_OF_REPLY, Limits, ProbeSchedule
from mtuscope.active.probe import (
    IPAddress,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
)
from mtuscope.errors import DecodeError, UsageError
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import TcpFlags, decode_tcp
from mtuscope.wire.tcp_options import TcpOptions

Value = int | str

SYN_PROBE_SIZE = {4: 60, 6: 80}
"""IP + TCP header + 20 option bytes: the transport then sends MSS, SACK-permitted,
timestamps and window scale (active/transport/matching.py)."""
ECHO_PROBE_SIZE = {4: 28, 6: 48}
"""An ICMP echo request with no payload."""

# Field names are Wireshark's where one exists, so evidence can be checked there.
IP_FIELDS = ("ip.dsfield", "ip.len", "ip.id", "ip.flags.df", "ip.src", "ip.dst")
IPV6_FIELDS = ("ipv6.tclass", "ipv6.plen", "ipv6.src", "ipv6.dst")
TCP_FIELDS = (
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
)
OPTION_FIELDS = (
    "tcp.options",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.sack_perm",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
)
MSS_FIELD = "tcp.options.mss_val"
SEQ_FIELD = "tcp.seq_raw"

# (bytes of TCP header needed, field, how to read it) for the fixed header, RFC 9293 §3.1.
_TCP_FIXED: tuple[tuple[int, str, slice], ...] = (
    (2, "tcp.srcport", slice(0, 2)),
    (4, "tcp.dstport", slice(2, 4)),
    (8, "tcp.seq_raw", slice(4, 8)),
    (12, "tcp.ack_raw", slice(8, 12)),
    (16, "tcp.window_size_value", slice(14, 16)),
)


class MiddleboxStop(StrEnum):
    """Why the walk ended."""

    REACHED = "reached"
    """The destination (or something answering for it) sent a SYN/ACK or RST."""
    UNREACHABLE = "unreachable"
    """A hop answered with destination-unreachable: the path ends there."""
    HOP_LIMIT = "hop-limit"
    """Nothing answered for the destination up to `max_ttl`."""
    BUDGET = "budget"
    """The probe budget ran out first."""
    LOCAL_ERROR = "local-error"
    """The local host refused to send."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """One header field that differs between what was sent and what a hop quoted."""

    field: str
    """Wireshark's name for it ("tcp.options.mss_val")."""
    sent: Value
    seen: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteDiff:
    """A quote compared with the packet sent."""

    changed: tuple[FieldChange, ...]
    compared: tuple[str, ...]
    """Fields the quote covered (changed or not), in header order."""
    too_short: bool
    """The quote ends before the end of the TCP header: its options cannot be compared."""


def packet_fields(packet: bytes) -> dict[str, Value]:
    """The comparable header fields of an IP packet carrying TCP, as far as the bytes go.

    Args:
        packet: an IPv4 or IPv6 packet from its IP header on; may be cut short.

    Returns:
        Field name -> value; fields beyond the end of the bytes are absent. Addresses
        are strings, the option kinds a comma-separated string, the rest integers.
    """
    out: dict[str, Value] = {}
    if not packet:
        return out
    try:
        if packet[0] >> 4 == 4:
            v4 = decode_ipv4(packet, lenient=True)
            out.update(
                {
                    "ip.dsfield": v4.tos,
                    "ip.len": v4.total_length,
                    "ip.id": v4.ident,
                    "ip.flags.df": int(v4.df),
                    "ip.src": str(v4.src),
                    "ip.dst": str(v4.dst),
                }
            )
            header_len, proto, frag = v4.header_len, int(v4.proto), v4.frag_offset
        elif packet[0] >> 4 == 6:
            v6 = decode_ipv6(packet, lenient=True)
            out.update(
                {
                    "ipv6.tclass": v6.traffic_class,
                    "ipv6.plen": v6.payload_length,
                    "ipv6.src": str(v6.src),
                    "ipv6.dst": str(v6.dst),
                }
            )
            header_len = v6.header_len
            proto = -1 if v6.proto is None else int(v6.proto)
            frag = v6.fragment.offset if v6.fragment else 0
        else:
            return out
    except DecodeError:
        return out
    if proto != 6 or frag:  # not TCP, or no transport header in this fragment
        return out
    tcp = packet[header_len:]
    for need, name, where in _TCP_FIXED:
        if len(tcp) >= need:
            out[name] = int.from_bytes(tcp[where], "big")
    if len(tcp) >= 14:
        out["tcp.flags"] = int.from_bytes(tcp[12:14], "big") & 0x1FF
    try:
        options = decode_tcp(tcp).options
    except DecodeError:
        return out  # the bytes end inside the option area
    out.update(option_fields(options))
    return out


def option_fields(options: TcpOptions) -> dict[str, Value]:
    """The comparable fields of a TCP option area.

    Args:
        options: decoded options.

    Returns:
        Field name -> value: the kinds in wire order, and MSS, window scale,
        SACK-permitted (0/1) and timestamps where present.
    """
    out: dict[str, Value] = {
        "tcp.options": ",".join(kind.name.lower() for kind in options.kinds),
        "tcp.options.sack_perm": int(options.sack_permitted),
    }
    if options.mss is not None:
        out["tcp.options.mss_val"] = options.mss
    if options.wscale is not None:
        out["tcp.options.wscale.shift"] = options.wscale
    if options.timestamps is not None:
        out["tcp.options.timestamp.tsval"] = options.timestamps[0]
        out["tcp.options.timestamp.tsecr"] = options.timestamps[1]
    return out


def diff_quote(sent: bytes, quote: bytes) -> QuoteDiff:
    """Compare an ICMP error's quote with the packet that was sent.

    Args:
        sent: the whole probe packet as built.
        quote: the quoted packet, from its IP header on (usually cut short).

    Returns:
        The fields that differ, the fields the quote covered, and whether it was too
        short to compare the TCP options. A field only one of them has (an option the
        path added or stripped) counts as changed when the quote covers the options.
    """
    before = packet_fields(sent)
    after = packet_fields(quote)
    has_options = "tcp.options" in after
    order = (*IP_FIELDS, *IPV6_FIELDS, *TCP_FIELDS, *OPTION_FIELDS)
    changed: list[FieldChange] = []
    compared: list[str] = []
    for name in order:
        if name in OPTION_FIELDS:
            if not has_options or (name not in before and name not in after):
                continue
        elif name not in after or name not in before:
            continue
        compared.append(name)
        was, now = before.get(name, "absent"), after.get(name, "absent")
        if was != now:
            changed.append(FieldChange(field=name, sent=was, seen=now))
    return QuoteDiff(changed=tuple(changed), compared=tuple(compared), too_short=not has_options)


@dataclass(frozen=True, slots=True, kw_only=True)
class HopQuote:
    """What one TTL showed."""

    ttl: int
    address: IPAddress | None
    """The router that answered; None when every attempt was lost."""
    probe_id: int | None
    """The probe whose reply this is (the last one sent, when all were lost)."""
    outcome: ProbeOutcome
    quote_bytes: int
    """Bytes of the quoted packet (0 when there was no quote)."""
    changed: tuple[FieldChange, ...] = ()
    compared: tuple[str, ...] = ()
    too_short: bool = False
    """A quote arrived but ends inside the TCP header: its options tell nothing."""

    @property
    def changed_map(self) -> dict[str, tuple[Value, Value]]:
        """`{field: (sent, seen)}`, as DESIGN.md's `middlebox.hops[].changed`."""
        return {c.field: (c.sent, c.seen) for c in self.changed}


@dataclass(frozen=True, slots=True, kw_only=True)
class PathChange:
    """A field that changed along the path, and the two hops it changed between."""

    field: str
    before: Value
    """Its value up to `from_ttl` (the sent value when `from_ttl` is 0)."""
    after: Value
    """Its value from `to_ttl` on."""
    from_ttl: int
    """Last hop that quoted `before`; 0 means the sender itself."""
    from_address: IPAddress | None
    to_ttl: int
    """First hop that quoted `after`."""
    to_address: IPAddress | None
    probe_id: int
    """The probe whose quote at `to_ttl` shows the change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The destination's answer to a SYN probe."""

    probe_id: int
    ttl: int
    """TTL of the probe that got it."""
    address: IPAddress | None
    syn_ack: bool
    """True for a SYN/ACK, False for an RST."""
    reply_ttl: int | None
    """TTL / hop limit the answer arrived with."""
    fields: tuple[tuple[str, Value], ...] = ()
    """Its option fields (`option_fields`), empty for an RST."""

    @property
    def mss(self) -> int | None:
        """The MSS option the answer carried, in bytes."""
        value = dict(self.fields).get(MSS_FIELD)
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminated:
    """The TCP answer came from a hop that is not the end of the path for other traffic."""

    ttl: int
    """The TTL at which TCP got its answer, and at which an echo was still time-exceeded."""
    address: IPAddress | None
    """The router that sent that time-exceeded: the proxy's own address."""
    probe_id: int
    """The echo probe."""
    syn_ack_probe: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MiddleboxResult:
    """Everything one walk found; frozen."""

    dst: IPAddress
    dport: int
    family: int
    hops: tuple[HopQuote, ...]
    """One per TTL before the destination's (or the last probed), in order."""
    changes: tuple[PathChange, ...]
    """Every field change along the path, by hop then header order."""
    response: Response | None
    """The destination's SYN/ACK or RST (the first one, at the smallest TTL)."""
    terminated: Terminated | None
    """Set when a TCP proxy answered for the destination."""
    relay_checked: bool
    """True when the echo check ran to an answer (reply or time-exceeded)."""
    stop_reason: MiddleboxStop
    probes: tuple[ProbeRecord, ...]
    seconds: float | None
    """Driver-clock seconds from the first probe to the end."""

    @property
    def reached(self) -> bool:
        """True when something answered the SYN for the destination."""
        return self.response is not None


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
        self._local_error = False
        self._next_ttl = 1

    # -- the driver's interface (`probes_due`, `deadline`: ProbeSchedule) ----------------

    def on_reply(self, reply: Reply, now: float) -> None:
        """File a reply; strays and duplicates are ignored.

        Args:
            reply: what came back.
            now: driver clock, seconds.
        """
        if reply.probe_id not in self._inflight or self._stop is not None:
            return
        probe, sent = self._inflight.pop(reply.probe_id)
        outcome = _OUTCOMES.get(reply.kind, ProbeOutcome.UNREACHABLE)
        record = ProbeRecord(
            probe=probe, sent_at=sent, reply=reply, replied_at=now, outcome=outcome
        )
        self._records[probe.id] = record
        self._file(record)
        self._advance(now)

    def on_timeout(self, now: float) -> None:
        """Expire the probes whose time is up; retry or give up on them.

        Args:
            now: driver clock, seconds.
        """
        for record in self._expire(now):
            key = (record.probe.kind, record.probe.ttl)
            if (
                self._attempts.get(key, 0) < self.limits.attempts
                and self._wanted(*key)
                and self.sent + len(self._queue) < self.limits.budget
            ):
                self._queue.append(key)
            else:
                self._file(record)
        self._advance(now)

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
            stop_reason=self._stop,
            probes=self.records,
            seconds=seconds,
        )

    # -- inside --------------------------------------------------------------------------

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
            return not self._echo_done
        return ttl not in self._hop and (self._end_ttl is None or ttl < self._end_ttl)

    def _file(self, record: ProbeRecord) -> None:
        probe, reply = record.probe, record.reply
        if probe.kind is ProbeKind.ECHO:
            self._echo = record
            self._echo_done = True
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
        if self.check_relay and not self._echo_done:
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


def path_changes(hops: tuple[HopQuote, ...]) -> tuple[PathChange, ...]:
    """Where along the path each field changed: walk the hops in TTL order.

    A field keeps its last known value across hops that did not quote it (too
    short, or lost); a change is placed between the last hop that quoted the old
    value (0: the sender) and the first that quoted the new one. A field that
    changes back (a box that restores it) is a second change.

    Args:
        hops: per-TTL quotes, in TTL order.

    Returns:
        The changes, by hop then header order.
    """
    # Per field: its value at the last hop that quoted it (None: as sent), that hop's
    # TTL and address, and the sent value once any change revealed it.
    last: dict[str, tuple[Value | None, int, IPAddress | None]] = {}
    sent_value: dict[str, Value] = {}
    out: list[PathChange] = []
    for hop in hops:
        if hop.probe_id is None:
            continue
        seen = {c.field: c.seen for c in hop.changed}
        sent_value.update({c.field: c.sent for c in hop.changed})
        for name in hop.compared:
            value, from_ttl, from_addr = last.get(name, (None, 0, None))
            now = seen.get(name)
            if now != value:
                before = value if value is not None else sent_value[name]
                after = now if now is not None else sent_value[name]
                out.append(
                    PathChange(
                        field=name,
                        before=before,
                        after=after,
                        from_ttl=from_ttl,
                        from_address=from_addr,
                        to_ttl=hop.ttl,
                        to_address=hop.address,
                        probe_id=hop.probe_id,
                    )
                )
            last[name] = (now, hop.ttl, hop.address)
    return tuple(out)
