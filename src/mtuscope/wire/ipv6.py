"""IPv6 header (RFC 8200 §3) and its extension-header chain (RFC 8200 §4) <-> `Ipv6Header`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

The fixed header is `IPV6_LAYOUT` and the fragment header `IPV6_FRAGMENT_LAYOUT`,
in wire order; capture/'s bulk decoder and the C walker read the same offsets.
The chain walk follows next-header values through the extension headers
RFC 8200 §4 and RFC 7045 list
(hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6,
experimental 253/254) until an upper-layer protocol. It stops at a fragment
header with a non-zero offset: the rest is not a header but the middle of a packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import IpProto
from mtuscope.wire.layout import Layout, check_range

__all__ = [
    "EXTENSION_HEADERS",
    "IPV6_EXTENSION_LAYOUT",
    "IPV6_FRAGMENT_LAYOUT",
    "IPV6_HEADER",
    "IPV6_LAYOUT",
    "Ipv6Extension",
    "Ipv6Fragment",
    "Ipv6Header",
    "decode_ipv6",
    "encode_ipv6",
    "encode_ipv6_fragment",
]

IPV6_LAYOUT = Layout(
    "IPv6",
    "RFC 8200 §3",
    ("version_class_flow", 4),  # version (4 bits), traffic class (8), flow label (20)
    ("payload_length", 2),
    ("next_header", 1),
    ("hop_limit", 1),
    ("src", 16),
    ("dst", 16),
)
"""The fixed IPv6 header, field by field."""
IPV6_HEADER = IPV6_LAYOUT.size
"""Bytes in the fixed IPv6 header (RFC 8200 §3): 40."""

IPV6_FRAGMENT_LAYOUT = Layout(
    "IPv6 fragment",
    "RFC 8200 §4.5",
    ("next_header", 1),
    ("reserved", 1),
    ("offset_flags", 2),  # offset in 8-byte units (13 bits), 2 reserved bits, M flag
    ("ident", 4),
)
"""The IPv6 fragment extension header, field by field (8 bytes)."""

IPV6_EXTENSION_LAYOUT = Layout(
    "IPv6 extension",
    "RFC 8200 §4.3; AH: RFC 4302 §2",
    ("next_header", 1),
    ("length", 1),  # 8-byte units not counting the first 8; AH: 4-byte units minus 2
)
"""What opens every extension header but the fragment header (its options follow)."""

# RFC 8200 §4 and the IANA "IPv6 Extension Header Types" registry (RFC 7045 §4).
EXTENSION_HEADERS = frozenset(
    {
        IpProto.HOPOPT,
        IpProto.IPV6_ROUTE,
        IpProto.IPV6_FRAG,
        IpProto.IPV6_OPTS,
        IpProto.AH,
        IpProto.MOBILITY,
        IpProto.HIP,
        IpProto.SHIM6,
        IpProto.EXP1,
        IpProto.EXP2,
    }
)
"""Next-header values that are IPv6 extension headers, walked over by the decoder."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipv6Extension:
    """One extension header as it sat on the wire."""

    header: IpProto
    """Which extension header this is (its own type, from the previous next-header)."""
    data: bytes
    """All its bytes, next-header and length bytes included."""

    @property
    def next_header(self) -> IpProto:
        """The next-header byte of this extension header."""
        return IpProto(self.data[IPV6_EXTENSION_LAYOUT.offset("next_header")])


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipv6Fragment:
    """The fragment header (RFC 8200 §4.5)."""

    next_header: IpProto
    """Next header of the fragmentable part."""
    offset: int
    """Fragment offset in bytes (the field times 8)."""
    more: bool
    """M flag: more fragments follow."""
    ident: int
    """32-bit identification."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipv6Header:
    """The fixed IPv6 header plus the extension chain walked after it."""

    traffic_class: int = 0
    """Traffic class: DSCP (upper 6 bits) and ECN (lower 2)."""
    flow_label: int = 0
    """20-bit flow label."""
    payload_length: int = 0
    """Payload length field: bytes after the fixed 40, extension headers included."""
    next_header: IpProto = IpProto.TCP
    """Next header of the fixed header (the first extension header, if any)."""
    hop_limit: int = 64
    """Hop limit."""
    src: IPv6Address
    """Source address."""
    dst: IPv6Address
    """Destination address."""
    extensions: tuple[Ipv6Extension, ...] = ()
    """Extension headers walked, in wire order."""
    proto: IpProto | None = IpProto.TCP
    """Protocol after the extension chain; None if the bytes ended inside the chain."""
    header_len: int = IPV6_HEADER
    """Bytes from the start of the header to the upper-layer header (40 + chain)."""
    fragment: Ipv6Fragment | None = None
    """The fragment header, if the chain has one."""
    truncated: bool = False
    """Lenient decoding only: the bytes ended inside the extension chain."""

    def __post_init__(self) -> None:
        # traffic class and flow label share the first word with the version (RFC 8200 §3)
        check_range("IPv6", "traffic_class", self.traffic_class, 0xFF)
        check_range("IPv6", "flow_label", self.flow_label, 0xFFFFF)
        IPV6_LAYOUT.check(payload_length=self.payload_length, hop_limit=self.hop_limit)

    @property
    def ip_len(self) -> int:
        """The packet length the header claims: 40 + payload length."""
        return IPV6_HEADER + self.payload_length


def decode_ipv6(data: bytes, *, lenient: bool = False) -> Ipv6Header:
    """Decode the IPv6 header at the start of `data` and walk its extension chain.

    Args:
        data: bytes starting at the IPv6 header; the payload may follow.
        lenient: if the bytes end inside the extension chain, return what was
            walked with `proto=None` and `truncated=True` instead of raising;
            used for packets quoted in ICMP errors.

    Returns:
        The header with its chain.

    Raises:
        Truncated: fewer than 40 bytes, or (strict) the chain is cut.
        Malformed: the version is not 6.
    """
    cur = Cursor(data)
    version = cur.peek_u8() >> 4
    if version != 6:
        raise Malformed(f"IP version {version} where IPv6 was expected", offset=0)
    f = IPV6_LAYOUT.read(cur)
    word = f["version_class_flow"]
    next_header = IpProto(f["next_header"])
    extensions: list[Ipv6Extension] = []
    fragment: Ipv6Fragment | None = None
    proto: IpProto | None = next_header
    truncated = False
    try:
        while proto in EXTENSION_HEADERS:
            if proto == IpProto.IPV6_FRAG:
                raw = cur.bytes(IPV6_FRAGMENT_LAYOUT.size)
            else:
                ext = IPV6_EXTENSION_LAYOUT.read(Cursor(data, cur.offset))
                # AH counts 4-byte units minus 2 (RFC 4302 §2.2); the others 8-byte
                # units not counting the first 8 (RFC 8200 §4.3).
                units = ext["length"]
                raw = cur.bytes((units + 2) * 4 if proto == IpProto.AH else (units + 1) * 8)
            extensions.append(Ipv6Extension(header=proto, data=raw))
            if proto == IpProto.IPV6_FRAG:
                frag = IPV6_FRAGMENT_LAYOUT.read(Cursor(raw))
                this = Ipv6Fragment(
                    next_header=IpProto(frag["next_header"]),
                    offset=frag["offset_flags"] & 0xFFF8,
                    more=bool(frag["offset_flags"] & 1),
                    ident=frag["ident"],
                )
                fragment = fragment or this
                proto = this.next_header
                if this.offset:
                    break  # a later fragment: what follows is not a header
            else:
                proto = IpProto(ext["next_header"])
    except Truncated:
        if not lenient:
            raise
        proto, truncated = None, True
    return Ipv6Header(
        traffic_class=(word >> 20) & 0xFF,
        flow_label=word & 0xFFFFF,
        payload_length=f["payload_length"],
        next_header=next_header,
        hop_limit=f["hop_limit"],
        src=IPv6Address(f["src"]),
        dst=IPv6Address(f["dst"]),
        extensions=tuple(extensions),
        proto=proto,
        header_len=IPV6_HEADER + sum(len(e.data) for e in extensions),
        fragment=fragment,
        truncated=truncated,
    )


def encode_ipv6(header: Ipv6Header) -> bytes:
    """Encode an IPv6 header and its extension headers.

    Args:
        header: the header. Extension headers are written as their raw bytes, in
            order; their next-header bytes must already chain correctly.

    Returns:
        The header bytes (40 plus the extension headers).

    Raises:
        UsageError: the header is a truncated decode result.
    """
    if header.truncated:
        raise UsageError("cannot encode a truncated IPv6 header")
    out = IPV6_LAYOUT.pack(
        version_class_flow=6 << 28 | header.traffic_class << 20 | header.flow_label,
        payload_length=header.payload_length,
        next_header=header.next_header,
        hop_limit=header.hop_limit,
        src=int(header.src),
        dst=int(header.dst),
    )
    for extension in header.extensions:
        out += extension.data
    return bytes(out)


def encode_ipv6_fragment(fragment: Ipv6Fragment) -> Ipv6Extension:
    """Build a fragment extension header (RFC 8200 §4.5).

    Args:
        fragment: the fragment header fields; `offset` must be a multiple of 8.

    Returns:
        The extension header, ready for `Ipv6Header.extensions`.

    Raises:
        UsageError: the offset is not a multiple of 8 or does not fit.
    """
    if fragment.offset % 8 or not 0 <= fragment.offset <= 0xFFF8:
        raise UsageError(f"IPv6 fragment offset {fragment.offset} is not a multiple of 8")
    if not 0 <= fragment.ident <= 0xFFFFFFFF:
        raise UsageError(f"IPv6 fragment identification {fragment.ident} out of range")
    raw = IPV6_FRAGMENT_LAYOUT.pack(
        next_header=fragment.next_header,
        reserved=0,
        offset_flags=fragment.offset | int(fragment.more),
        ident=fragment.ident,
    )
    return Ipv6Extension(header=IpProto.IPV6_FRAG, data=bytes(raw))
