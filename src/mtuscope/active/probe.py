"""Probes and replies as data: what an engine asks a transport to send, and what came back.

Layer: active/. Pure data; no sockets, no clock. An engine describes a probe
(`Probe`) and builds its packet (probe_packet.py); what comes back is mapped to
a `Reply` carrying the same `probe_id`, and the engine files the pair as a
`ProbeRecord` with its `ProbeOutcome`.

How the two transports carry these types:

- Raw sockets (root or CAP_NET_RAW), IPv4 and IPv6: the engine builds the whole
  IP packet of `Probe.size` bytes (IPv4 with DF set when `df`; IPv6 never
  fragments in flight), TTL / hop limit `Probe.ttl`, with identifiers where a
  reply quotes them back: the ICMP echo identifier/sequence, the UDP source
  port, the TCP sequence number. The transport sends those bytes and hands back
  what it reads as a `Datagram`; the engine matches it (matching.py): ICMP errors
  (fragmentation-needed, packet-too-big, time-exceeded, unreachable) quote the
  probe's headers, which map them back.
- Unprivileged (a UDP socket, like tracepath): `IP_MTU_DISCOVER`/`IPV6_MTU_DISCOVER`
  set to `IP_PMTUDISC_PROBE` (DF set, the kernel's cached PMTU ignored), `IP_TTL`
  per probe, `IP_RECVERR`/`IPV6_RECVERR` on; send `Probe.payload_size` bytes of
  payload. The error queue gives `SO_EE_ORIGIN_ICMP{,6}` entries with the
  ICMP type, the offender's address and (for too-big) `ee_info` = the MTU; an
  `EMSGSIZE` raised by `send` itself is a `Reply(kind=TOO_BIG, from_addr=None,
  mtu=<the local MTU>)`. Only `ProbeKind.UDP` works in this mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import UsageError
from mtuscope.wire.icmp import ICMP_HEADER
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER
from mtuscope.wire.sizes import MAX_IP_PACKET, MIN_MTU
from mtuscope.wire.tcp import TCP_MIN_HEADER
from mtuscope.wire.tcp_options import TcpOptions
from mtuscope.wire.udp import UDP_HEADER

IPAddress = IPv4Address | IPv6Address

IP_HEADER = {4: IPV4_MIN_HEADER, 6: IPV6_HEADER}
"""Fixed IP header bytes by family (IPv4 without options, RFC 791; IPv6, RFC 8200 §3)."""


class ProbeKind(StrEnum):
    """What the probe carries."""

    ECHO = "echo"
    """ICMP / ICMPv6 echo request; the destination answers with an echo reply."""
    UDP = "udp"
    """UDP datagram to `dport`; a closed port answers with port-unreachable."""
    TCP_SYN = "tcp-syn"
    """A TCP SYN to `dport`, padded with payload to the size; answered by SYN/ACK or RST."""


TRANSPORT_HEADER = {
    ProbeKind.ECHO: ICMP_HEADER,
    ProbeKind.UDP: UDP_HEADER,
    ProbeKind.TCP_SYN: TCP_MIN_HEADER,
}
"""Header bytes after the IP header: ICMP echo (RFC 792), UDP (RFC 768), TCP (RFC 9293)."""


class ReplyKind(StrEnum):
    """What came back for a probe."""

    ECHO_REPLY = "echo-reply"
    TCP_RESPONSE = "tcp-response"
    """SYN/ACK or RST from the destination."""
    UDP_RESPONSE = "udp-response"
    PORT_UNREACHABLE = "port-unreachable"
    """ICMP port unreachable from the destination itself: it got the whole datagram."""
    TOO_BIG = "too-big"
    """ICMP fragmentation-needed (RFC 1191) / ICMPv6 packet-too-big (RFC 4443 §3.2),
    or EMSGSIZE from the local kernel (`from_addr` None)."""
    TIME_EXCEEDED = "time-exceeded"
    UNREACHABLE = "unreachable"
    """Another destination-unreachable (net, host, administratively prohibited), or a
    port-unreachable from someone other than the destination; `Reply.code` says which."""
    LOCAL_ERROR = "local-error"
    """The local kernel refused to send (no route, ...); `from_addr` is None."""


DESTINATION_KINDS = frozenset(
    {
        ReplyKind.ECHO_REPLY,
        ReplyKind.TCP_RESPONSE,
        ReplyKind.UDP_RESPONSE,
        ReplyKind.PORT_UNREACHABLE,
    }
)
"""Replies that prove the probe reached the destination whole."""


class ProbeOutcome(StrEnum):
    """What one probe showed, as the engine filed it."""

    REACHED = "reached"
    """The destination answered, or (TTL-limited probes) the hop it was aimed at."""
    TOO_BIG = "too-big"
    """A too-big message with a usable MTU."""
    TOO_BIG_BOGUS = "too-big-bogus"
    """A too-big message whose MTU is useless (0, below the minimum, not below the size)."""
    TIME_EXCEEDED = "time-exceeded"
    """Time-exceeded from a hop other than the one aimed at."""
    UNREACHABLE = "unreachable"
    LOST = "lost"
    """No reply before the probe's deadline."""
    LOCAL_ERROR = "local-error"
    CANCELLED = "cancelled"
    """Still in flight when the engine finished; nothing is concluded from it."""


class SearchStop(StrEnum):
    """Why an engine stopped (scamper's ScamperTraceStop habit)."""

    CONVERGED = "converged"
    """The answer is exact, bounded by a reply and a too-big message or the ceiling."""
    BLACKHOLE = "blackhole"
    """The answer is exact, but larger probes vanished without any too-big message."""
    ICMP_FILTERED = "icmp-filtered"
    """Not even the smallest probe got an answer: this probe kind is filtered."""
    HOP_LIMIT = "hop-limit"
    """The destination was not reached within the TTL limit (or the gap limit)."""
    BUDGET = "budget"
    """The probe budget ran out first; the answer is a lower bound."""
    TIME = "time"
    """The wall-clock cap (`--max-seconds`) ran out first; the answer is a lower bound."""
    INTERRUPTED = "interrupted"
    """SIGINT or SIGTERM stopped the run; what was found so far is kept."""
    UNREACHABLE = "unreachable"
    """An ICMP destination-unreachable (host, net, admin, port on a non-UDP probe) ended it."""
    ERROR = "error"
    """The local host refused to send."""


def min_probe_size(family: int, kind: ProbeKind) -> int:
    """Smallest packet of this kind: the IP header plus the transport header.

    Args:
        family: 4 or 6.
        kind: the probe kind.

    Returns:
        Size in bytes.

    Raises:
        UsageError: family is not 4 or 6.
    """
    if family not in IP_HEADER:
        raise UsageError(f"IP family must be 4 or 6, not {family!r}")
    return IP_HEADER[family] + TRANSPORT_HEADER[kind]


def usable_too_big(family: int, mtu: int | None, size: int) -> bool:
    """Whether a too-big message's MTU can be believed for a probe of `size`.

    Args:
        family: 4 or 6.
        mtu: the MTU field (None when the message had none).
        size: the size of the probe it refused.

    Returns:
        True when `MIN_MTU[family] <= mtu < size` (RFC 1191 §3: 0 means an old
        router that does not say; RFC 8201 §4: never below 1280 for IPv6).
    """
    return mtu is not None and MIN_MTU[family] <= mtu < size


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One packet to send, described, not encoded."""

    id: int
    """Unique within one engine run; the transport maps replies back by it."""
    family: int
    """4 or 6; must match `dst`."""
    dst: IPAddress
    size: int
    """Whole IP packet, header included, in bytes."""
    ttl: int
    """IPv4 TTL / IPv6 hop limit."""
    kind: ProbeKind
    dport: int | None = None
    """Destination port (UDP and TCP_SYN only)."""
    df: bool = True
    """IPv4 don't-fragment bit; IPv6 routers never fragment, so it is always True there."""

    def __post_init__(self) -> None:
        if self.family != self.dst.version:
            raise UsageError(f"probe family {self.family} does not match {self.dst}")
        low = min_probe_size(self.family, self.kind)
        if not low <= self.size <= MAX_IP_PACKET:
            raise UsageError(f"probe size {self.size} outside {low}..{MAX_IP_PACKET}")
        if not 1 <= self.ttl <= 255:
            raise UsageError(f"TTL {self.ttl} outside 1..255")
        if self.id < 0:
            raise UsageError(f"probe id {self.id} is negative")
        if self.kind is ProbeKind.ECHO:
            if self.dport is not None:
                raise UsageError("an ICMP echo probe has no port")
        elif self.dport is None or not 1 <= self.dport <= 65535:
            raise UsageError(f"a {self.kind.value} probe needs a port 1..65535, not {self.dport}")
        if self.family == 6 and not self.df:
            raise UsageError("IPv6 routers never fragment: df must stay True")

    @property
    def payload_size(self) -> int:
        """Bytes after the IP and transport headers (what a UDP socket sends)."""
        return self.size - min_probe_size(self.family, self.kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a transport received for one probe."""

    probe_id: int
    kind: ReplyKind
    from_addr: IPAddress | None
    """Who sent it; None when the local kernel answered (EMSGSIZE, ENETUNREACH)."""
    mtu: int | None = None
    """The MTU field of a too-big message, as received (may be useless: 0, tiny, too large)."""
    ttl: int | None = None
    """TTL / hop limit of the reply as it arrived."""
    rtt: float | None = None
    """Seconds, when the reply says it (a local refusal: 0); otherwise None and the
    record's rtt is the driver's receive time minus its send time (one clock)."""
    quote: bytes | None = None
    """For an ICMP error to a TCP SYN probe: the quoted packet as received, from its IP
    header on (what the router saw arrive); None otherwise or when unknown."""
    sent: bytes | None = None
    """For a TCP SYN probe's reply: the whole probe packet as the transport built it, so an
    engine can compare the quote with it; None otherwise or when unknown."""
    segment: bytes | None = None
    """For a TCP response: the TCP segment (SYN/ACK or RST) from its header on; else None."""
    tcp_options: TcpOptions | None = None
    """For a SYN/ACK answering a TCP SYN probe: its TCP options (the server's MSS rides
    here into the MSS observation); None for every other reply."""
    code: int | None = None
    """The ICMP / ICMPv6 code of a destination-unreachable (`UNREACHABLE`,
    `PORT_UNREACHABLE`); None for every other reply or when unknown."""
    rst: bool = False
    """For a TCP response: True when it was an RST (the port is closed), not a SYN/ACK."""

    def __post_init__(self) -> None:
        if self.mtu is not None and not 0 <= self.mtu <= 0xFFFFFFFF:
            raise UsageError(f"too-big MTU {self.mtu} does not fit its 32-bit field")
        if self.code is not None and not 0 <= self.code <= 0xFF:
            raise UsageError(f"ICMP code {self.code} does not fit its 8-bit field")

    @property
    def reached(self) -> bool:
        """True when the reply proves the probe reached the destination whole."""
        return self.kind in DESTINATION_KINDS


class Layer(StrEnum):
    """Where the bytes of a `Datagram` start (what a raw socket of that kind returns)."""

    IPV4 = "ipv4"
    """A whole IPv4 packet, header included (IPv4 raw sockets)."""
    ICMP6 = "icmp6"
    """An ICMPv6 message (the kernel keeps the IPv6 header)."""
    TCP6 = "tcp6"
    """A TCP segment that arrived over IPv6."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    """Bytes a raw transport read, as they came; the engine matches them to its probes."""

    layer: Layer
    data: bytes
    from_addr: IPAddress | None = None
    """The sender, when the bytes do not say (IPv6: the socket's source address)."""
    ttl: int | None = None
    """Hop limit it arrived with, when the bytes do not say (IPv6 control message)."""
    stamp: float | None = None
    """When the kernel received it (SO_TIMESTAMPNS), seconds on the kernel's real-time
    clock; None when the socket gave no timestamp. Only differences with a send stamp
    of the same clock (`Transport.send`) are used: a round-trip time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeRecord:
    """A probe, when it left, and what became of it: the evidence behind every result."""

    probe: Probe
    sent_at: float
    """Seconds on the driver's clock."""
    reply: Reply | None
    replied_at: float | None
    outcome: ProbeOutcome

    @property
    def rtt(self) -> float | None:
        """Round-trip time in seconds, if answered."""
        if self.reply is None or self.replied_at is None:
            return None
        if self.reply.rtt is not None:
            return self.reply.rtt
        return self.replied_at - self.sent_at


# Destination-unreachable codes as traceroute and tracepath mark them: ICMPv4 (RFC 792,
# RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1) and ICMPv6 (RFC 4443 §3.1).
_UNREACH4: dict[int, tuple[str, str]] = {
    0: ("!N", "network unreachable"),
    1: ("!H", "host unreachable"),
    2: ("!P", "protocol unreachable"),
    3: ("!p", "port unreachable"),
    4: ("!F", "fragmentation needed"),
    5: ("!S", "source route failed"),
    6: ("!N", "destination network unknown"),
    7: ("!H", "destination host unknown"),
    8: ("!H", "source host isolated"),
    9: ("!X", "network administratively prohibited"),
    10: ("!X", "host administratively prohibited"),
    11: ("!N", "network unreachable for this type of service"),
    12: ("!H", "host unreachable for this type of service"),
    13: ("!X", "communication administratively prohibited"),
    14: ("!V", "host precedence violation"),
    15: ("!C", "precedence cutoff in effect"),
}
_UNREACH6: dict[int, tuple[str, str]] = {
    0: ("!N", "no route to destination"),
    1: ("!X", "communication administratively prohibited"),
    2: ("!S", "beyond the scope of the source address"),
    3: ("!H", "address unreachable"),
    4: ("!p", "port unreachable"),
    5: ("!X", "source address failed ingress/egress policy"),
    6: ("!X", "reject route to destination"),
}


def unreachable_symbol(family: int, code: int) -> str:
    """The traceroute mark of a destination-unreachable code (`!H`, `!N`, `!X`, ...;
    `!<code>` for a code without one)."""
    table = _UNREACH4 if family == 4 else _UNREACH6
    return table[code][0] if code in table else f"!{code}"


def unreachable_reason(family: int, code: int) -> str:
    """A destination-unreachable code in words ("host unreachable", ...)."""
    table = _UNREACH4 if family == 4 else _UNREACH6
    return table[code][1] if code in table else f"unreachable (code {code})"


def first_unreachable(records: tuple[ProbeRecord, ...]) -> ProbeRecord | None:
    """The first probe (in sending order) answered by a destination-unreachable
    (`ProbeOutcome.UNREACHABLE`), if any: what ended a search with `SearchStop.UNREACHABLE`."""
    for record in records:
        if record.outcome is ProbeOutcome.UNREACHABLE and record.reply is not None:
            return record
    return None


class PortState(StrEnum):
    """What a TCP port did with the SYN probes sent to it."""

    OPEN = "open"
    """A SYN/ACK came back."""
    CLOSED = "closed"
    """Only RSTs came back: nothing listens there."""
    FILTERED = "filtered"
    """No TCP answer at all: a firewall drops the SYNs (or an unreachable came back)."""


def port_state(records: tuple[ProbeRecord, ...]) -> PortState | None:
    """The state of the port the TCP SYN probes among `records` went to.

    Args:
        records: probes of one run toward one destination and port.

    Returns:
        OPEN on any SYN/ACK, CLOSED when the destination answered with RSTs only,
        FILTERED when none of the SYNs got a TCP answer; None without TCP SYN probes.
    """
    syns = [r for r in records if r.probe.kind is ProbeKind.TCP_SYN]
    if not syns:
        return None
    answers = [
        r.reply for r in syns if r.reply is not None and r.reply.kind is ReplyKind.TCP_RESPONSE
    ]
    if any(not a.rst for a in answers):
        return PortState.OPEN
    return PortState.CLOSED if answers else PortState.FILTERED
