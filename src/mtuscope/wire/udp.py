"""UDP header (RFC 768) <-> `UdpHeader`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

The header is `UDP_LAYOUT`, in wire order; capture/'s bulk decoder and the C
walker read the same offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import Malformed, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import IpProto
from mtuscope.wire.layout import Layout
from mtuscope.wire.sizes import MAX_IP_PACKET

__all__ = ["UDP_HEADER", "UDP_LAYOUT", "UdpHeader", "decode_udp", "encode_udp"]

UDP_LAYOUT = Layout("UDP", "RFC 768", ("sport", 2), ("dport", 2), ("length", 2), ("checksum", 2))
"""The UDP header, field by field."""
UDP_HEADER = UDP_LAYOUT.size
"""Bytes in a UDP header: 8."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpHeader:
    """One UDP header, fields in wire order."""

    sport: int
    """Source port."""
    dport: int
    """Destination port."""
    length: int = UDP_HEADER
    """Length field: header plus data in bytes (0 only in IPv6 jumbograms, RFC 2675 §4)."""
    checksum: int = 0
    """Checksum as found; 0 means none was computed (IPv4 only, RFC 768)."""

    def __post_init__(self) -> None:
        UDP_LAYOUT.check(
            sport=self.sport, dport=self.dport, length=self.length, checksum=self.checksum
        )


def decode_udp(data: bytes) -> UdpHeader:
    """Decode the UDP header at the start of `data`.

    Args:
        data: bytes starting at the UDP header; the data may follow.

    Returns:
        The header.

    Raises:
        Truncated: fewer than 8 bytes.
        Malformed: the length field is 1..7 (shorter than the header itself).
    """
    f = UDP_LAYOUT.read(Cursor(data))
    length = f["length"]
    if 0 < length < UDP_HEADER:
        at = UDP_LAYOUT.offset("length")
        raise Malformed(f"UDP length {length} below the 8-byte header", offset=at)
    return UdpHeader(sport=f["sport"], dport=f["dport"], length=length, checksum=f["checksum"])


def encode_udp(
    *,
    sport: int,
    dport: int,
    payload: bytes,
    src: IPv4Address | IPv6Address,
    dst: IPv4Address | IPv6Address,
) -> bytes:
    """Encode a UDP datagram with its length and checksum filled in.

    Args:
        sport: source port.
        dport: destination port.
        payload: the data.
        src: IP source address (pseudo-header).
        dst: IP destination address (pseudo-header).

    Returns:
        Header plus payload. A computed checksum of 0 is sent as 0xFFFF (RFC 768).

    Raises:
        UsageError: a port is out of range or the datagram exceeds 65535 bytes.
    """
    length = UDP_HEADER + len(payload)
    if length > MAX_IP_PACKET:
        raise UsageError(f"UDP datagram of {length} bytes exceeds {MAX_IP_PACKET}")
    header = UdpHeader(sport=sport, dport=dport, length=length)
    raw = UDP_LAYOUT.pack(sport=header.sport, dport=header.dport, length=length, checksum=0)
    raw += payload
    checksum = internet_checksum(pseudo_header(src, dst, IpProto.UDP, length) + raw) or 0xFFFF
    raw[UDP_LAYOUT.field("checksum").span] = checksum.to_bytes(2, "big")
    return bytes(raw)
