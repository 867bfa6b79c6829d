"""Whole probe packets, IP header included, built from the header encoders.

Layer: wire/. Pure: returns bytes, never sends them (active/transport does).
The family follows from the address type: IPv4Address builds IPv4 (with header
checksum), IPv6Address builds IPv6. Transport checksums are always filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import UsageError
from mtuscope.wire.enums import IpProto
from mtuscope.wire.icmp import IcmpEcho, encode_icmp_echo, encode_icmp_error
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER, Ipv4Header, encode_ipv4
from mtuscope.wire.ipv6 import Ipv6Header, encode_ipv6
from mtuscope.wire.sizes import MAX_IP_PACKET
from mtuscope.wire.tcp import TcpFlags, TcpHeader, encode_tcp
from mtuscope.wire.tcp_options import TcpOption, TcpOptions, syn_options
from mtuscope.wire.udp import encode_udp

__all__ = ["build_icmp_echo", "build_icmp_error", "build_ip", "build_tcp", "build_udp"]

Address = IPv4Address | IPv6Address


def build_ip(
    *,
    src: Address,
    dst: Address,
    proto: int,
    payload: bytes,
    ttl: int = 64,
    ident: int = 0,
    df: bool = True,
    tos: int = 0,
    flow_label: int = 0,
) -> bytes:
    """Put `payload` behind an IPv4 or IPv6 header.

    Args:
        src: source address; its type picks the family.
        dst: destination address, same family.
        proto: protocol / next header of the payload.
        payload: the transport bytes.
        ttl: TTL or hop limit.
        ident: IPv4 identification (ignored for IPv6).
        df: IPv4 don't-fragment flag (IPv6 routers never fragment anyway).
        tos: IPv4 type of service / IPv6 traffic class.
        flow_label: IPv6 flow label (ignored for IPv4).

    Returns:
        The IP packet.

    Raises:
        UsageError: mixed families, or the packet exceeds the length field.
    """
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        total = IPV4_MIN_HEADER + len(payload)
        if total > MAX_IP_PACKET:
            raise UsageError(f"IPv4 packet of {total} bytes exceeds {MAX_IP_PACKET}")
        header = Ipv4Header(
            tos=tos,
            total_length=total,
            ident=ident,
            df=df,
            ttl=ttl,
            proto=IpProto(proto),
            src=src,
            dst=dst,
        )
        return encode_ipv4(header) + payload
    if isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        if len(payload) > MAX_IP_PACKET:
            raise UsageError(f"IPv6 payload of {len(payload)} bytes exceeds {MAX_IP_PACKET}")
        header6 = Ipv6Header(
            traffic_class=tos,
            flow_label=flow_label,
            payload_length=len(payload),
            next_header=IpProto(proto),
            hop_limit=ttl,
            src=src,
            dst=dst,
            proto=IpProto(proto),
        )
        return encode_ipv6(header6) + payload
    raise UsageError("source and destination addresses must be of the same family")


def build_tcp(
    *,
    src: Address,
    dst: Address,
    sport: int,
    dport: int,
    seq: int = 0,
    ack: int = 0,
    flags: TcpFlags = TcpFlags.SYN,
    window: int = 65535,
    mss: int | None = None,
    wscale: int | None = None,
    sack_permitted: bool = False,
    timestamps: tuple[int, int] | None = None,
    options: Sequence[TcpOption] | None = None,
    payload: bytes = b"",
    ttl: int = 64,
    ident: int = 0,
    df: bool = True,
) -> bytes:
    """Build an IP packet carrying one TCP segment, by default a SYN.

    Args:
        src: source address (picks the family).
        dst: destination address.
        sport: source port.
        dport: destination port.
        seq: sequence number.
        ack: acknowledgment number.
        flags: control bits.
        window: window field.
        mss: MSS option value in bytes, or None for none.
        wscale: window scale shift, or None.
        sack_permitted: add SACK-permitted.
        timestamps: (TSval, TSecr) for the timestamps option, or None.
        options: explicit options in wire order; when given, `mss`, `wscale`,
            `sack_permitted` and `timestamps` must be left unset.
        payload: segment data (a SYN may carry some, e.g. TCP Fast Open).
        ttl: TTL / hop limit.
        ident: IPv4 identification.
        df: IPv4 don't-fragment flag.

    Returns:
        The IP packet.

    Raises:
        UsageError: both `options` and option shortcuts given, values out of
            range, or options longer than 40 bytes.
    """
    shortcuts = syn_options(
        mss=mss, wscale=wscale, sack_permitted=sack_permitted, timestamps=timestamps
    )
    if options is not None and shortcuts:
        raise UsageError("give either explicit TCP options or the option shortcuts, not both")
    chosen = tuple(options) if options is not None else shortcuts
    header = TcpHeader(
        sport=sport,
        dport=dport,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        options=TcpOptions(options=chosen),
    )
    segment = encode_tcp(header, src=src, dst=dst, payload=payload)
    return build_ip(
        src=src, dst=dst, proto=IpProto.TCP, payload=segment, ttl=ttl, ident=ident, df=df
    )


def build_udp(
    *,
    src: Address,
    dst: Address,
    sport: int,
    dport: int,
    payload: bytes = b"",
    ttl: int = 64,
    ident: int = 0,
    df: bool = True,
) -> bytes:
    """Build an IP packet carrying one UDP datagram.

    The IP packet is 28 (IPv4) or 48 (IPv6) bytes plus `payload`: size probes
    pick the payload length from the size they want.

    Args:
        src: source address (picks the family).
        dst: destination address.
        sport: source port.
        dport: destination port.
        payload: the data.
        ttl: TTL / hop limit.
        ident: IPv4 identification.
        df: IPv4 don't-fragment flag.

    Returns:
        The IP packet.

    Raises:
        UsageError: mixed families or values out of range.
    """
    datagram = encode_udp(sport=sport, dport=dport, payload=payload, src=src, dst=dst)
    return build_ip(
        src=src, dst=dst, proto=IpProto.UDP, payload=datagram, ttl=ttl, ident=ident, df=df
    )


def build_icmp_echo(
    *,
    src: Address,
    dst: Address,
    ident: int,
    seq: int,
    payload: bytes = b"",
    reply: bool = False,
    ttl: int = 64,
    ip_ident: int = 0,
    df: bool = True,
) -> bytes:
    """Build an IP packet carrying an ICMP or ICMPv6 echo request (or reply).

    Args:
        src: source address (picks ICMP or ICMPv6).
        dst: destination address.
        ident: echo identifier.
        seq: echo sequence number.
        payload: echo data.
        reply: build an echo reply instead of a request.
        ttl: TTL / hop limit.
        ip_ident: IPv4 identification.
        df: IPv4 don't-fragment flag.

    Returns:
        The IP packet.

    Raises:
        UsageError: mixed families or values out of range.
    """
    family = 4 if isinstance(src, IPv4Address) else 6
    echo = IcmpEcho(family=family, reply=reply, ident=ident, seq=seq, payload=payload)
    message = encode_icmp_echo(echo, src=src, dst=dst)
    proto = IpProto.ICMP if family == 4 else IpProto.ICMPV6
    return build_ip(src=src, dst=dst, proto=proto, payload=message, ttl=ttl, ident=ip_ident, df=df)


def build_icmp_error(
    *,
    src: Address,
    dst: Address,
    type: int,
    code: int = 0,
    quote: bytes,
    mtu: int | None = None,
    ttl: int = 64,
    ip_ident: int = 0,
) -> bytes:
    """Build an IP packet carrying an ICMP/ICMPv6 error, as a router would send it.

    Args:
        src: the router's address (picks ICMP or ICMPv6).
        dst: the address the error goes to (the quoted packet's source).
        type: message type, e.g. 3 (v4) or 2 (v6).
        code: message code, e.g. 4 for fragmentation needed.
        quote: the quoted packet bytes, already cut to what the router quotes
            (RFC 792: IP header + 8 bytes; RFC 4443 §2.4(c): as much as fits in 1280).
        mtu: next-hop MTU for ICMPv4 3/4 and ICMPv6 2.
        ttl: TTL / hop limit of the error packet.
        ip_ident: IPv4 identification of the error packet.

    Returns:
        The IP packet.

    Raises:
        UsageError: mixed families, missing MTU, or values out of range.
    """
    family = 4 if isinstance(src, IPv4Address) else 6
    message = encode_icmp_error(
        family=family, type=type, code=code, quote=quote, mtu=mtu, src=src, dst=dst
    )
    proto = IpProto.ICMP if family == 4 else IpProto.ICMPV6
    return build_ip(
        src=src, dst=dst, proto=proto, payload=message, ttl=ttl, ident=ip_ident, df=False
    )
