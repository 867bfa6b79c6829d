"""IPv4 header (RFC 791 §3.1) <-> `Ipv4Header`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

The fixed part is `IPV4_LAYOUT`, in wire order; the options (IHL * 4 - 20
bytes) follow it. capture/'s bulk decoder and the C walker read the same offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.checksum import internet_checksum
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import IpProto
from mtuscope.wire.layout import Layout

__all__ = ["IPV4_LAYOUT", "IPV4_MIN_HEADER", "Ipv4Header", "decode_ipv4", "encode_ipv4"]

IPV4_LAYOUT = Layout(
    "IPv4",
    "RFC 791 §3.1",
    ("version_ihl", 1),  # version (upper nibble), IHL in 4-byte words (lower nibble)
    ("tos", 1),  # DSCP and ECN, RFC 2474 / RFC 3168
    ("total_length", 2),
    ("ident", 2),
    ("flags_fragment", 2),  # reserved, DF, MF bits, then the offset in 8-byte units
    ("ttl", 1),
    ("proto", 1),
    ("checksum", 2),
    ("src", 4),
    ("dst", 4),
)
"""The IPv4 header without options, field by field."""
IPV4_MIN_HEADER = IPV4_LAYOUT.size
"""Bytes in an IPv4 header without options (RFC 791 §3.1, IHL 5): 20."""
IPV4_MAX_HEADER = 60
"""Bytes in an IPv4 header with the most options (IHL 15)."""

# Flags field, RFC 791 §3.1: bit 0 reserved, bit 1 DF, bit 2 MF; offset in 8-byte units.
_FLAG_DF = 0x4000
_FLAG_MF = 0x2000
_OFFSET_MASK = 0x1FFF
_CHECKSUM = IPV4_LAYOUT.field("checksum").span


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipv4Header:
    """One IPv4 header, fields in wire order."""

    header_len: int = IPV4_MIN_HEADER
    """Header length in bytes, IHL * 4 (20..60)."""
    tos: int = 0
    """Type of service byte: DSCP (upper 6 bits) and ECN (lower 2), RFC 2474 / RFC 3168."""
    total_length: int = 0
    """Total length field: header plus payload, in bytes, as the sender wrote it."""
    ident: int = 0
    """Identification field."""
    df: bool = False
    """Don't-fragment flag."""
    mf: bool = False
    """More-fragments flag."""
    frag_offset: int = 0
    """Fragment offset in bytes (the field times 8)."""
    ttl: int = 64
    """Time to live."""
    proto: IpProto = IpProto.TCP
    """Protocol of the payload."""
    checksum: int = 0
    """Header checksum as found (decoding) or 0 to be filled in (encoding)."""
    src: IPv4Address
    """Source address."""
    dst: IPv4Address
    """Destination address."""
    options: bytes = b""
    """Option bytes; shorter than header_len - 20 only if `truncated`."""
    truncated: bool = False
    """Lenient decoding only: the bytes ended inside the options."""

    def __post_init__(self) -> None:
        if not IPV4_MIN_HEADER <= self.header_len <= IPV4_MAX_HEADER or self.header_len % 4:
            raise UsageError(f"IPv4 header length {self.header_len} is not 20..60 in 4s")
        room = self.header_len - IPV4_MIN_HEADER
        if len(self.options) > room or (len(self.options) < room and not self.truncated):
            raise UsageError(f"{len(self.options)} option bytes in a {self.header_len}-byte header")
        IPV4_LAYOUT.check(
            tos=self.tos,
            total_length=self.total_length,
            ident=self.ident,
            ttl=self.ttl,
            checksum=self.checksum,
        )
        if self.frag_offset % 8 or not 0 <= self.frag_offset <= _OFFSET_MASK * 8:
            raise UsageError(f"IPv4 fragment offset {self.frag_offset} is not a multiple of 8")

    @property
    def fragment(self) -> bool:
        """The packet is a fragment (MF set or a non-zero offset)."""
        return self.mf or self.frag_offset > 0


def decode_ipv4(data: bytes, *, lenient: bool = False) -> Ipv4Header:
    """Decode the IPv4 header at the start of `data`.

    Args:
        data: bytes starting at the IPv4 header; the payload may follow.
        lenient: accept a header cut inside its options (returns what is there
            with `truncated=True`) and a total length shorter than the header;
            used for packets quoted in ICMP errors.

    Returns:
        The header. Its checksum is reported, not verified.

    Raises:
        Truncated: fewer than 20 bytes, or (strict) fewer than IHL * 4.
        Malformed: the version is not 4, IHL is below 5, or (strict) the total
            length is shorter than the header.
    """
    cur = Cursor(data)
    first = cur.peek_u8()
    if first >> 4 != 4:
        raise Malformed(f"IP version {first >> 4} where IPv4 was expected", offset=0)
    header_len = (first & 0x0F) * 4
    if header_len < IPV4_MIN_HEADER:
        raise Malformed(f"IPv4 header length {header_len} below 20", offset=0)
    f = IPV4_LAYOUT.read(cur)
    flags = f["flags_fragment"]
    room = header_len - IPV4_MIN_HEADER
    truncated = False
    if cur.remaining >= room:
        options = cur.bytes(room)
    elif lenient:
        options, truncated = cur.rest(), True
    else:
        raise Truncated(
            f"IPv4 header of {header_len} bytes cut at {len(data)}", offset=IPV4_MIN_HEADER
        )
    total_length = f["total_length"]
    if total_length < header_len and not lenient:
        at = IPV4_LAYOUT.offset("total_length")
        raise Malformed(f"IPv4 total length {total_length} below header {header_len}", offset=at)
    return Ipv4Header(
        header_len=header_len,
        tos=f["tos"],
        total_length=total_length,
        ident=f["ident"],
        df=bool(flags & _FLAG_DF),
        mf=bool(flags & _FLAG_MF),
        frag_offset=(flags & _OFFSET_MASK) * 8,
        ttl=f["ttl"],
        proto=IpProto(f["proto"]),
        checksum=f["checksum"],
        src=IPv4Address(f["src"]),
        dst=IPv4Address(f["dst"]),
        options=options,
        truncated=truncated,
    )


def encode_ipv4(header: Ipv4Header, *, fill_checksum: bool = True) -> bytes:
    """Encode an IPv4 header.

    Args:
        header: the header; `options` must fill `header_len` (pad them to 4 bytes).
        fill_checksum: compute the header checksum (RFC 791 §3.1) instead of
            writing `header.checksum`.

    Returns:
        The header bytes (header_len of them).

    Raises:
        UsageError: the header is a truncated decode result.
    """
    if header.truncated:
        raise UsageError("cannot encode a truncated IPv4 header")
    flags = (
        (_FLAG_DF if header.df else 0) | (_FLAG_MF if header.mf else 0) | header.frag_offset // 8
    )
    out = IPV4_LAYOUT.pack(
        version_ihl=0x40 | header.header_len // 4,
        tos=header.tos,
        total_length=header.total_length,
        ident=header.ident,
        flags_fragment=flags,
        ttl=header.ttl,
        proto=header.proto,
        checksum=0 if fill_checksum else header.checksum,
        src=int(header.src),
        dst=int(header.dst),
    )
    out += header.options
    if fill_checksum:
        out[_CHECKSUM] = internet_checksum(bytes(out)).to_bytes(2, "big")
    return bytes(out)
