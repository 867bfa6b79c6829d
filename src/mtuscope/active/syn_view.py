"""One SYN as one vantage point saw it, and one connection to a responder seen from both ends.

Layer: active/. Pure data and one decoder (bytes from the IP header on -> `SynView`);
no sockets, no clock. The client captures its own SYN and the responder hands
back the SYN as it arrived (active/transport/responder*.py); diagnose/ compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mtuscope.active.probe import IPAddress
from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import TcpFlags, decode_tcp

if TYPE_CHECKING:
    from mtuscope.active.responder_protocol import ReverseMeasurement


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    address: IPAddress
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port {self.port} outside 0..65535")


@dataclass(frozen=True, slots=True, kw_only=True)
class SynView:
    """The fields of one SYN (or SYN/ACK) that a middlebox may change, at one vantage point."""

    family: int
    src: Endpoint
    dst: Endpoint
    seq: int
    ttl: int
    """TTL / hop limit as it was at this point."""
    window: int
    flags: int
    mss: int | None
    wscale: int | None
    sack_permitted: bool
    timestamps: bool
    option_kinds: tuple[int, ...]
    """Option kinds in wire order (NOP 1, MSS 2, WS 3, SACK-permitted 4, TS 8, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoEndedObservation:
    """One connection to a responder, seen from both ends."""

    target: Endpoint
    """The responder, as the client connected to it."""
    local: Endpoint
    """The client's socket address (getsockname)."""
    announced_mss: int | None
    """The MSS the client's kernel announced (TCP_INFO), captured or not."""
    sent: SynView | None
    """The client's SYN as it left (AF_PACKET capture, root); None without the capture."""
    seen: SynView
    """The same SYN as it arrived at the responder (TCP_SAVED_SYN)."""
    server_peer: Endpoint
    """The client as the responder's accept() saw it."""
    server_local: Endpoint
    """The responder's own end of the connection."""
    server_mss: int | None
    """The MSS the responder's SYN/ACK announced (its TCP_INFO)."""
    synack_seen: SynView | None
    """The SYN/ACK as it arrived at the client (capture, root); None without the capture."""
    reverse: ReverseMeasurement | None
    """The responder's path MTU search back toward the client, when asked for."""
    seconds: float


def decode_syn(packet: bytes) -> SynView:
    """Decode a SYN's IP and TCP headers (a saved SYN, or one captured on the client).

    Args:
        packet: bytes starting at the IPv4 or IPv6 header.

    Returns:
        The view.

    Raises:
        Truncated: the bytes end inside a header.
        Malformed: not IP, not TCP, or not a SYN.
    """
    if not packet:
        raise Truncated("empty SYN")
    version = packet[0] >> 4
    src: IPAddress
    dst: IPAddress
    if version == 4:
        ip4 = decode_ipv4(packet, lenient=True)
        src, dst, ttl, start, proto = ip4.src, ip4.dst, ip4.ttl, ip4.header_len, int(ip4.proto)
    elif version == 6:
        ip6 = decode_ipv6(packet)
        src, dst, ttl, start = ip6.src, ip6.dst, ip6.hop_limit, ip6.header_len
        proto = -1 if ip6.proto is None else int(ip6.proto)
    else:
        raise Malformed(f"IP version {version} in a saved SYN", offset=0)
    if proto != 6:
        raise Malformed(f"saved SYN carries protocol {proto}, not TCP")
    tcp = decode_tcp(packet[start:])
    if not tcp.flags & TcpFlags.SYN:
        raise Malformed("the saved packet is not a SYN", offset=start + 13)
    return SynView(
        family=version,
        src=Endpoint(address=src, port=tcp.sport),
        dst=Endpoint(address=dst, port=tcp.dport),
        seq=tcp.seq,
        ttl=ttl,
        window=tcp.window,
        flags=int(tcp.flags),
        mss=tcp.options.mss,
        wscale=tcp.options.wscale,
        sack_permitted=tcp.options.sack_permitted,
        timestamps=tcp.options.timestamps is not None,
        option_kinds=tuple(int(k) for k in tcp.options.kinds),
    )
