"""UDP header (RFC 768) <-> `UdpHeader`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

Wire order: source port, destination port, length, checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import Malformed, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import IpProto

__all__ = ["UDP_HEADER", "UdpHeader", "decode_udp", "encode_udp"]

UDP_HEADER = 8
"""Bytes in a UDP header."""


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
        for name, value in (
            ("sport", self.sport),
            ("dport", self.dport),
            ("length", self.length),
            ("checksum", self.checksum),
        ):
            if not 0 <= value <= 0xFFFF:
                raise UsageError(f"UDP {name} {value} out of range")


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
    cur = Cursor(data)
    sport, dport, length, checksum = cur.u16(), cur.u16(), cur.u16(), cur.u16()
    if 0 < length < UDP_HEADER:
        raise Malformed(f"UDP length {length} below the 8-byte header", offset=4)
    return UdpHeader(sport=sport, dport=dport, length=length, checksum=checksum)


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
    if length > 0xFFFF:
        raise UsageError(f"UDP datagram of {length} bytes exceeds 65535")
    header = UdpHeader(sport=sport, dport=dport, length=length)
    raw = (
        header.sport.to_bytes(2, "big")
        + header.dport.to_bytes(2, "big")
        + length.to_bytes(2, "big")
        + b"\x00\x00"
        + payload
    )
    checksum = internet_checksum(pseudo_header(src, dst, IpProto.UDP, length) + raw) or 0xFFFF
    return raw[:6] + checksum.to_bytes(2, "big") + raw[8:]
