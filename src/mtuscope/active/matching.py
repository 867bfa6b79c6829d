"""Packet -> probe: the probes in flight, and mapping received bytes back to them.

Layer: active/. Pure: it matches received bytes to the probes that caused them
(the packets themselves are built in probe_packet.py). No sockets, no clock
(send and receive times are parameters, given by the driver's one clock).

Each probe gets a `WireTag` when it is registered, with every field a reply or
an ICMP quote may carry back:

- ICMP/ICMPv6 echo: identifier = the book's `ident` (one per transport),
  sequence = a per-probe counter. An echo reply is matched by both and by its
  sender being the probe's destination; an ICMP error by the quoted echo header.
- UDP and TCP SYN: source port = `port_base` + counter mod `PORT_SPAN`, so
  up to `PORT_SPAN` probes in flight have distinct ports. ICMP errors are
  matched by the quoted source port (and, for TCP, the quoted sequence number,
  or, when a box on the path rewrote it, the IPv4 identification).
- TCP SYN: a random initial sequence number; a SYN/ACK or RST from the
  destination must come from the probed port to ours and acknowledge it
  (ack = seq + 1, or seq + 1 + payload when the peer acknowledged SYN data, as
  an RST from a closed port does).
- IPv4: the IP identification = counter (never 0, which tells Linux to pick
  one). When a router quotes only the IP header, the quoted ip_id matches.

Round-trip times come from the kernel when the transport has its timestamps: the
send stamp (`stamp_sent`, SOF_TIMESTAMPING_TX_SOFTWARE) and the receive stamp
(`Datagram.stamp`, SO_TIMESTAMPNS), both on the kernel's real-time clock; without
them, the driver's clock at building the packet and at reading the reply.

A destination-unreachable keeps its ICMP code (`Reply.code`). A port-unreachable
proves the probe reached the destination only when the destination sent it; from
anyone else (a firewall on the way) it is filed as `UNREACHABLE`.

A tag is forgotten when its first reply is matched (duplicates are dropped)
or when `capacity` newer probes push it out.

The SYN/ACK's options ride on the `Reply` (`Reply.tcp_options`).

Replies to TCP SYN probes also carry the bytes behind them, for engines that
compare what was sent with what arrived (active/middlebox.py): `Reply.sent`
(the probe packet as built here), `Reply.quote` (an ICMP error's quoted
packet) and `Reply.segment` (the SYN/ACK or RST).

A book for one flow (`ProbeBook.for_flow`, Paris-traceroute style) keeps the
5-tuple fixed for the whole run, so that every probe takes the same ECMP
branch: the source port is `FLOW_PORT_BASE + flow` and the echo identifier
`FLOW_IDENT_BASE + flow` for every probe, and probes are told apart by other
fields instead: TCP SYN by the sequence number (`seq_base + counter`, so each
SYN is in the window of the previous one and a destination still holding a
half-open connection of this flow answers the newer SYN with an RST that
acknowledges it, not with a bare ACK), UDP by the same number in the first
four payload bytes, echo by its sequence as always; IPv4 also by the IP
identification (a quote of the IP header only, or of a TCP probe whose
sequence number a box rewrote). The echo sequence and IP identification start
at a random offset per book, so a late reply to one engine's probe never
matches the next engine's.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass

from mtuscope.active.probe import Datagram, IPAddress, Layer, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.probe_packet import WireTag, encode_probe, syn_options_len
from mtuscope.errors import DecodeError, UsageError
from mtuscope.wire.enums import Icmp4Type, Icmp6Type, IpProto
from mtuscope.wire.icmp import (
    ICMP_HEADER,
    IcmpMessage,
    QuotedPacket,
    decode_icmp_echo,
    decode_icmp_error,
)
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.tcp import TcpFlags, TcpHeader, decode_tcp
from mtuscope.wire.tcp_options import TcpOptions

PORT_SPAN = 4096
"""Distinct source ports one book cycles through for UDP and TCP probes."""
FLOW_PORT_BASE = 45000
"""The source port of flow 0; flow N leaves from `FLOW_PORT_BASE + N`."""
FLOW_IDENT_BASE = 0x4D00
"""The echo identifier of flow 0; flow N's is `FLOW_IDENT_BASE + N`."""
MAX_FLOWS = 64
"""Flow ids are 0 .. MAX_FLOWS - 1."""
_MARK = 4
"""Payload bytes of a flow's UDP probe that carry its counter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Matched:
    """A received packet mapped back to its probe."""

    tag: WireTag
    reply: Reply


class ProbeBook:
    """The probes in flight on one transport, by every key a reply may carry."""

    def __init__(
        self,
        *,
        ident: int,
        port_base: int,
        rng: random.Random | None = None,
        capacity: int = PORT_SPAN,
        flow_port: int | None = None,
    ) -> None:
        """A book; `flow_port` set: every probe leaves from that port (see `for_flow`)."""
        if not 0 <= ident <= 0xFFFF:
            raise UsageError(f"echo identifier {ident} outside 0..65535")
        if not 1024 <= port_base <= 65535 - PORT_SPAN:
            raise UsageError(f"port base {port_base} outside 1024..{65535 - PORT_SPAN}")
        if not 1 <= capacity <= PORT_SPAN:
            raise UsageError(f"capacity {capacity} outside 1..{PORT_SPAN}")
        if flow_port is not None and not 1024 <= flow_port <= 65535:
            raise UsageError(f"flow port {flow_port} outside 1024..65535")
        self.ident = ident
        self.flow_port = flow_port
        self.port_base = port_base
        self._rng = rng or random.Random()
        self._capacity = capacity
        self._counter = 0
        self._seq_base = self._rng.getrandbits(32)
        self._offset = self._rng.getrandbits(16) if flow_port is not None else 0
        """A flow's books share their port and echo identifier: their echo sequences and
        IP identifications start at a random offset, so one book's late replies miss the next."""
        self._by_ack: dict[int, int] = {}
        """A flow's TCP probes by the acknowledgement of their SYN and payload."""
        self._tags: OrderedDict[int, WireTag] = OrderedDict()
        self._by_seq: dict[int, int] = {}
        self._by_port: dict[int, int] = {}
        self._by_ip_id: dict[int, int] = {}
        self._sent_stamps: dict[int, float] = {}
        """Probe id -> the kernel's send timestamp, for the probes that have one."""

    def __len__(self) -> int:
        return len(self._tags)

    @classmethod
    def for_flow(cls, flow: int, *, rng: random.Random | None = None) -> ProbeBook:
        """The book of flow `flow`: the same source port and echo identifier for every
        probe of the run, and of every run with this flow id.

        Raises:
            UsageError: a flow id outside 0 .. MAX_FLOWS - 1.
        """
        if not 0 <= flow < MAX_FLOWS:
            raise UsageError(f"flow {flow} outside 0..{MAX_FLOWS - 1}")
        return cls(
            ident=FLOW_IDENT_BASE + flow,
            port_base=33434,
            rng=rng,
            flow_port=FLOW_PORT_BASE + flow,
        )

    def register(self, probe: Probe, *, src: IPAddress, sent_at: float) -> WireTag:
        """Give `probe` its wire identity and remember it.

        Args:
            probe: what the engine asked for.
            src: our source address, same family as the probe.
            sent_at: driver-clock seconds at sending.

        Returns:
            The tag; `encode_probe(tag)` gives the packet.

        Raises:
            UsageError: `src` is of the other family.
        """
        if src.version != probe.family:
            raise UsageError(f"source {src} cannot send an IPv{probe.family} probe")
        self._counter += 1
        count = self._counter
        room = probe.payload_size
        if probe.kind is ProbeKind.TCP_SYN:
            room -= syn_options_len(room)
        flow = self.flow_port is not None
        tag = WireTag(
            probe=probe,
            src=src,
            sent_at=sent_at,
            counter=count,
            echo_ident=self.ident,
            echo_seq=(self._offset + count) & 0xFFFF,
            sport=self.flow_port or self.port_base + count % PORT_SPAN,
            tcp_seq=(self._seq_base + count) % (1 << 32) if flow else self._rng.getrandbits(32),
            ip_id=(self._offset + count) % 0xFFFF + 1,
            payload_len=room,
            mark=flow and probe.kind is ProbeKind.UDP,
        )
        self._tags[count] = tag
        self._by_seq[tag.echo_seq] = count
        if flow:
            self._by_ack[(tag.tcp_seq + 1 + room) % (1 << 32)] = count
        else:
            self._by_port[tag.sport] = count
        self._by_ip_id[tag.ip_id] = count
        while len(self._tags) > self._capacity:
            self.forget(next(iter(self._tags.values())))
        return tag

    def stamp_sent(self, probe_id: int, stamp: float) -> None:
        """Record when the kernel sent probe `probe_id` (its transmit timestamp, seconds
        on the kernel's real-time clock): replies with a receive stamp are timed from it."""
        if len(self._sent_stamps) < self._capacity:  # a tag's `forget` drops its stamp
            self._sent_stamps[probe_id] = stamp

    def forget(self, tag: WireTag) -> None:
        """Drop a tag (answered, or given up on)."""
        self._tags.pop(tag.counter, None)
        self._sent_stamps.pop(tag.probe.id, None)
        for index, key in (
            (self._by_seq, tag.echo_seq),
            (self._by_port, tag.sport),
            (self._by_ip_id, tag.ip_id),
            (self._by_ack, (tag.tcp_seq + 1 + tag.payload_len) % (1 << 32)),
        ):
            if index.get(key) == tag.counter:
                del index[key]

    def _lookup(self, index: dict[int, int], key: int | None) -> WireTag | None:
        if key is None or key not in index:
            return None
        return self._tags.get(index[key])

    # -- matching -----------------------------------------------------------------------------

    def match(self, datagram: Datagram, *, received_at: float | None = None) -> Matched | None:
        """Match what a raw transport read to a probe of this book.

        Args:
            datagram: the bytes and, for IPv6, the sender and hop limit.
            received_at: driver-clock seconds when it was read (None: the driver times it).

        Returns:
            The probe and reply, or None for a packet not caused by our probes.
        """
        stamp = datagram.stamp
        if datagram.layer is Layer.IPV4:
            return self.match_ipv4(datagram.data, received_at=received_at, stamp=stamp)
        if datagram.from_addr is None:
            return None
        if datagram.layer is Layer.TCP6:
            return self.match_tcp(
                datagram.data,
                from_addr=datagram.from_addr,
                ttl=datagram.ttl,
                received_at=received_at,
                stamp=stamp,
            )
        return self.match_icmp(
            datagram.data,
            family=6,
            from_addr=datagram.from_addr,
            ttl=datagram.ttl,
            received_at=received_at,
            stamp=stamp,
        )

    def match_ipv4(
        self, packet: bytes, *, received_at: float | None = None, stamp: float | None = None
    ) -> Matched | None:
        """Match an IPv4 packet read from a raw socket (IP header included).

        Args:
            packet: the whole IPv4 packet.
            received_at: driver-clock seconds when it was read, for the reply's rtt;
                None leaves the rtt to the driver (record time minus send time).
            stamp: the kernel's receive timestamp (with a send stamp: the rtt).

        Returns:
            The probe and reply, or None for a packet not caused by our probes.
        """
        try:
            ip = decode_ipv4(packet, lenient=True)
        except DecodeError:
            return None
        body = packet[ip.header_len :]
        if ip.proto == IpProto.ICMP:
            return self.match_icmp(
                body, family=4, from_addr=ip.src, ttl=ip.ttl, received_at=received_at, stamp=stamp
            )
        if ip.proto == IpProto.TCP:
            return self.match_tcp(
                body, from_addr=ip.src, ttl=ip.ttl, received_at=received_at, stamp=stamp
            )
        return None

    def match_icmp(
        self,
        data: bytes,
        *,
        family: int,
        from_addr: IPAddress,
        ttl: int | None,
        received_at: float | None = None,
        stamp: float | None = None,
    ) -> Matched | None:
        """Match an ICMP / ICMPv6 message (from its header on) to a probe.

        Args:
            data: the ICMP message.
            family: 4 or 6.
            from_addr: the sender.
            ttl: TTL / hop limit it arrived with, if known.
            received_at: driver-clock seconds when it was read, for the reply's rtt;
                None leaves the rtt to the driver (record time minus send time).
            stamp: the kernel's receive timestamp (with a send stamp: the rtt).

        Returns:
            The probe and reply, or None.
        """
        if len(data) < ICMP_HEADER:
            return None
        echo_reply = Icmp4Type.ECHO_REPLY if family == 4 else Icmp6Type.ECHO_REPLY
        if data[0] == echo_reply:
            try:
                echo = decode_icmp_echo(data, family=family)
            except DecodeError:
                return None
            tag = self._lookup(self._by_seq, echo.seq)
            if (
                tag is None
                or echo.ident != self.ident
                or tag.probe.kind is not ProbeKind.ECHO
                or tag.probe.dst != from_addr
            ):
                return None
            return self._reply(tag, ReplyKind.ECHO_REPLY, from_addr, ttl, received_at, stamp)
        try:
            message = decode_icmp_error(data, family=family)
        except DecodeError:
            return None
        if not message.is_error or message.quote is None:
            return None
        kind = _error_kind(message)
        tag = self._quoted_tag(message)
        if kind is None or tag is None:
            return None
        if kind is ReplyKind.PORT_UNREACHABLE and from_addr != tag.probe.dst:
            # Not the destination refusing the port: a box on the way rejecting the probe.
            kind = ReplyKind.UNREACHABLE
        unreach = kind in (ReplyKind.UNREACHABLE, ReplyKind.PORT_UNREACHABLE)
        syn = tag.probe.kind is ProbeKind.TCP_SYN
        return self._reply(
            tag,
            kind,
            from_addr,
            ttl,
            received_at,
            stamp,
            mtu=message.mtu,
            code=message.code if unreach else None,
            quote=message.quote.raw if syn else None,
            sent=encode_probe(tag) if syn else None,
        )

    def _quoted_tag(self, message: IcmpMessage) -> WireTag | None:
        """The probe an ICMP error quotes, checked against what we sent."""
        quote = message.quote
        if quote is None:
            return None
        transport = quote.raw[quote.header_len :] if not quote.frag_offset else b""
        tag: WireTag | None = None
        if quote.proto in (IpProto.ICMP, IpProto.ICMPV6) and len(transport) >= ICMP_HEADER:
            ident = int.from_bytes(transport[4:6], "big")
            seq = int.from_bytes(transport[6:8], "big")
            tag = self._lookup(self._by_seq, seq) if ident == self.ident else None
            if tag is not None and tag.probe.kind is not ProbeKind.ECHO:
                tag = None
        elif quote.proto in (IpProto.UDP, IpProto.TCP) and quote.sport is not None:
            tag = self._quoted_l4(quote, transport)
            want = ProbeKind.UDP if quote.proto == IpProto.UDP else ProbeKind.TCP_SYN
            if tag is not None and (
                tag.probe.kind is not want
                or tag.probe.dport != quote.dport
                or (quote.seq is not None and quote.seq != tag.tcp_seq and not _same_ip(quote, tag))
            ):
                tag = None
        elif quote.family == 4 and quote.ip_id is not None:
            # The router quoted the IP header only (RFC 792 asks for 8 more bytes).
            tag = self._lookup(self._by_ip_id, quote.ip_id)
        if tag is None or tag.probe.dst != quote.dst or tag.src != quote.src:
            return None
        return tag

    def _quoted_l4(self, quote: QuotedPacket, transport: bytes) -> WireTag | None:
        """The probe a quoted UDP or TCP header stands for (ports, or a flow's fields)."""
        if self.flow_port is None:
            return self._lookup(self._by_port, quote.sport)
        if quote.sport != self.flow_port:
            return None
        tag: WireTag | None = None
        if quote.proto == IpProto.TCP and quote.seq is not None:
            tag = self._tags.get((quote.seq - self._seq_base) % (1 << 32))
        elif quote.proto == IpProto.UDP and len(transport) >= 8 + _MARK:
            mark = int.from_bytes(transport[8 : 8 + _MARK], "big")
            tag = self._tags.get((mark - self._seq_base) % (1 << 32))
        if tag is None and quote.family == 4:
            tag = self._lookup(self._by_ip_id, quote.ip_id)  # a rewritten seq, a short quote
        return tag

    def _segment_tag(self, segment: TcpHeader) -> WireTag | None:
        """The probe a TCP segment answers: by our port, or a flow's by its `ack` (a
        SYN/ACK acknowledges the SYN alone, an RST the SYN and its payload first)."""
        if self.flow_port is None:
            return self._lookup(self._by_port, segment.dport)
        if segment.dport != self.flow_port or not segment.flags & TcpFlags.ACK:
            return None
        by_syn = self._tags.get((segment.ack - 1 - self._seq_base) % (1 << 32))
        by_data = self._lookup(self._by_ack, segment.ack)
        first, second = (by_data, by_syn) if segment.flags & TcpFlags.RST else (by_syn, by_data)
        return first if first is not None and first.probe.kind is ProbeKind.TCP_SYN else second

    def match_tcp(
        self,
        data: bytes,
        *,
        from_addr: IPAddress,
        ttl: int | None,
        received_at: float | None = None,
        stamp: float | None = None,
    ) -> Matched | None:
        """Match a TCP segment (from its header on) answering a TCP SYN probe.

        Args:
            data: the TCP segment.
            from_addr: the sender.
            ttl: TTL / hop limit it arrived with, if known.
            received_at: driver-clock seconds when it was read, for the reply's rtt;
                None leaves the rtt to the driver (record time minus send time).
            stamp: the kernel's receive timestamp (with a send stamp: the rtt).

        Returns:
            The probe and a TCP_RESPONSE reply (with the SYN/ACK's options), or None.
        """
        try:
            segment = decode_tcp(data)
        except DecodeError:
            return None
        tag = self._segment_tag(segment)
        if (
            tag is None
            or tag.probe.kind is not ProbeKind.TCP_SYN
            or tag.probe.dst != from_addr
            or segment.sport != tag.probe.dport
            or not segment.flags & (TcpFlags.SYN | TcpFlags.RST)
        ):
            return None
        acked = (segment.ack - tag.tcp_seq) % (1 << 32)
        if segment.flags & TcpFlags.ACK and acked not in (1, 1 + tag.payload_len):
            return None
        synack = TcpFlags.SYN | TcpFlags.ACK
        return self._reply(
            tag,
            ReplyKind.TCP_RESPONSE,
            from_addr,
            ttl,
            received_at,
            stamp,
            sent=encode_probe(tag),
            segment=bytes(data),
            tcp_options=segment.options if segment.flags & synack == synack else None,
            rst=bool(segment.flags & TcpFlags.RST),
        )

    def _reply(
        self,
        tag: WireTag,
        kind: ReplyKind,
        from_addr: IPAddress | None,
        ttl: int | None,
        received_at: float | None,
        stamp: float | None = None,
        *,
        mtu: int | None = None,
        quote: bytes | None = None,
        sent: bytes | None = None,
        segment: bytes | None = None,
        tcp_options: TcpOptions | None = None,
        code: int | None = None,
        rst: bool = False,
    ) -> Matched:
        sent_stamp = self._sent_stamps.get(tag.probe.id)
        self.forget(tag)
        rtt: float | None = None
        if stamp is not None and sent_stamp is not None:
            # Both from the kernel's clock: the time on the wire, not in this process.
            rtt = max(0.0, stamp - sent_stamp)
        elif received_at is not None:
            rtt = max(0.0, received_at - tag.sent_at)
        reply = Reply(
            probe_id=tag.probe.id,
            kind=kind,
            from_addr=from_addr,
            mtu=mtu,
            ttl=ttl,
            rtt=rtt,
            quote=quote,
            sent=sent,
            segment=segment,
            tcp_options=tcp_options,
            code=code,
            rst=rst,
        )
        return Matched(tag=tag, reply=reply)


def _same_ip(quote: QuotedPacket, tag: WireTag) -> bool:
    """Whether a quote whose TCP sequence number differs is still our probe.

    A box on the path may rewrite the sequence number (an ISN-randomising firewall,
    RFC 6528's concern): the quote is still ours when, besides the ports and
    addresses, the IPv4 identification matches; IPv6 has no such field, so the
    ports (unique among the probes in flight) and addresses decide.
    """
    if quote.family == 4:
        return quote.ip_id == tag.ip_id
    return True


def _error_kind(message: IcmpMessage) -> ReplyKind | None:
    """ReplyKind of an ICMP error (RFC 792, RFC 1191, RFC 4443); None for the others."""
    if message.family == 4:
        if message.type == Icmp4Type.DEST_UNREACH:
            if message.code == 4:  # fragmentation needed and DF set (RFC 1191 §4)
                return ReplyKind.TOO_BIG
            return ReplyKind.PORT_UNREACHABLE if message.code == 3 else ReplyKind.UNREACHABLE
        return ReplyKind.TIME_EXCEEDED if message.type == Icmp4Type.TIME_EXCEEDED else None
    if message.type == Icmp6Type.PACKET_TOO_BIG:
        return ReplyKind.TOO_BIG
    if message.type == Icmp6Type.DEST_UNREACH:
        return ReplyKind.PORT_UNREACHABLE if message.code == 4 else ReplyKind.UNREACHABLE
    return ReplyKind.TIME_EXCEEDED if message.type == Icmp6Type.TIME_EXCEEDED else None
