"""The packet an ICMP error quotes (RFC 792, RFC 4443 §2.4(c)) -> `QuotedPacket`.

Layer: wire/. Pure: bytes in, a frozen value out. No I/O.

The quote holds the first quoted IP header, the IPv6 extension chain after it,
and what is there of the transport header. A quoted first fragment (offset 0,
more fragments) still carries its transport header and we decode it; a quoted
later fragment (offset > 0) has none: no ports. Quotes are short by design and
often cut further by the capture, so the decoder takes what is there and never
raises for a short or odd quote; oddities land in the caller's notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import DecodeError, Malformed
from mtuscope.wire.enums import IpProto
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import TCP_LAYOUT, TcpFlags, decode_tcp
from mtuscope.wire.tcp_options import TcpOptions

__all__ = ["QuotedPacket", "decode_quote"]

# Transport protocols whose first 4 bytes are source and destination port:
# TCP (RFC 9293), UDP (RFC 768), DCCP (RFC 4340 §5.1), SCTP (RFC 9260 §3.1),
# UDP-Lite (RFC 3828).
_PORTED = frozenset({IpProto.TCP, IpProto.UDP, IpProto.DCCP, IpProto.SCTP, IpProto.UDPLITE})


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotedPacket:
    """The packet an ICMP error quotes: its first IP header and transport ports."""

    family: int
    """4 or 6, from the quoted header's version nibble."""
    src: IPv4Address | IPv6Address
    """Quoted source address (normally ours: the sender of the offending packet)."""
    dst: IPv4Address | IPv6Address
    """Quoted destination address."""
    proto: IpProto | None
    """Protocol after the quoted IPv6 extension chain (IPv4: the protocol field);
    None if the quote ends inside the chain."""
    ip_len: int
    """The quoted packet's own length field: IPv4 total length, IPv6 40 + payload length."""
    ttl: int
    """Quoted TTL / hop limit, as the packet had it when the error was generated."""
    ip_id: int | None
    """IPv4 identification, or the IPv6 fragment header's identification (None if none)."""
    df: bool
    """IPv4 don't-fragment flag; always True for IPv6 (routers never fragment it)."""
    frag_offset: int
    """Fragment offset in bytes; a non-zero offset means no transport header is quoted."""
    header_len: int
    """Bytes of quoted IP header up to the transport header (IPv6: with the chain walked)."""
    sport: int | None
    """Transport source port (TCP/UDP/SCTP/DCCP/UDP-Lite); None if not quoted."""
    dport: int | None
    """Transport destination port; None if not quoted."""
    seq: int | None
    """TCP sequence number; None if not TCP or not quoted."""
    tcp_flags: TcpFlags | None
    """TCP control bits; None if not TCP or not quoted."""
    tcp_options: TcpOptions | None
    """TCP options when the whole quoted TCP header is present; else None."""
    truncated: bool
    """The quote holds less than the quoted packet's length field says (the normal case)."""
    raw: bytes
    """The quote bytes themselves, from the quoted IP header on."""


_SPORT = TCP_LAYOUT.field("sport")
_DPORT = TCP_LAYOUT.field("dport")
_SEQ = TCP_LAYOUT.field("seq")
_FLAGS = TCP_LAYOUT.field("offset_flags")


def decode_quote(data: bytes, notes: list[str]) -> QuotedPacket | None:
    """Decode what there is of the packet an ICMP error quotes.

    Never raises for a short or odd quote: what does not decode is left None
    and said in `notes`.

    Args:
        data: the quote, from the quoted IP header on (often cut short).
        notes: where oddities are appended, one line each.

    Returns:
        The quoted packet, or None if not even its IP header decodes.
    """
    if not data:
        notes.append("error message without a quote")
        return None
    version = data[0] >> 4
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    proto: IpProto | None
    ip_id: int | None
    try:
        if version == 4:
            v4 = decode_ipv4(data, lenient=True)
            src, dst, proto, ttl = v4.src, v4.dst, v4.proto, v4.ttl
            ip_len, ip_id, df, frag_offset = v4.total_length, v4.ident, v4.df, v4.frag_offset
            header_len, cut = v4.header_len, v4.truncated
            family = 4
        elif version == 6:
            v6 = decode_ipv6(data, lenient=True)
            src, dst, proto, ttl = v6.src, v6.dst, v6.proto, v6.hop_limit
            ip_len, df, header_len, cut = v6.ip_len, True, v6.header_len, v6.truncated
            ip_id = v6.fragment.ident if v6.fragment else None
            frag_offset = v6.fragment.offset if v6.fragment else 0
            family = 6
        else:
            notes.append(f"quoted packet has IP version {version}")
            return None
    except DecodeError as exc:
        notes.append(f"quoted IP header does not decode: {exc}")
        return None
    sport = dport = seq = None
    tcp_flags: TcpFlags | None = None
    tcp_options: TcpOptions | None = None
    transport = b"" if cut or frag_offset else data[header_len:]
    # As much of the transport header as the quote holds, field by field (TCP_LAYOUT;
    # UDP, DCCP, SCTP and UDP-Lite share its two ports).
    if proto in _PORTED and len(transport) >= _DPORT.end:
        sport = int.from_bytes(transport[_SPORT.span], "big")
        dport = int.from_bytes(transport[_DPORT.span], "big")
    if proto == IpProto.TCP:
        if len(transport) >= _SEQ.end:
            seq = int.from_bytes(transport[_SEQ.span], "big")
        if len(transport) >= _FLAGS.end:
            tcp_flags = TcpFlags(int.from_bytes(transport[_FLAGS.span], "big") & 0x1FF)
        if len(transport) >= TCP_LAYOUT.size:
            try:
                tcp_options = decode_tcp(transport).options
            except Malformed as exc:
                notes.append(f"quoted TCP header does not decode: {exc}")
            except DecodeError:
                pass  # the quote ends inside the TCP options: no options to compare
    return QuotedPacket(
        family=family,
        src=src,
        dst=dst,
        proto=proto,
        ip_len=ip_len,
        ttl=ttl,
        ip_id=ip_id,
        df=df,
        frag_offset=frag_offset,
        header_len=header_len,
        sport=sport,
        dport=dport,
        seq=seq,
        tcp_flags=tcp_flags,
        tcp_options=tcp_options,
        truncated=len(data) < ip_len,
        raw=data,
    )
