"""A probe's wire identity and its packet: what a raw transport sends for a `Probe`.

Layer: active/. Pure: builds packets with wire/ builders; no sockets, no clock.
`ProbeBook.register` (matching.py) gives each probe a `WireTag` with every field
a reply or an ICMP quote may carry back; `encode_probe` builds the packet from it.

A TCP SYN probe carries options when its size leaves room: 20 bytes (MSS,
SACK-permitted, timestamps, window scale — what Linux sends, so the SYN/ACK
shows what the peer does with each) or 4 (MSS only); the rest of the size is
payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.probe import IP_HEADER, IPAddress, Probe, ProbeKind
from mtuscope.errors import UsageError
from mtuscope.wire.builders import build_icmp_echo, build_tcp, build_udp
from mtuscope.wire.enums import TcpOptionKind
from mtuscope.wire.tcp import TCP_MIN_HEADER
from mtuscope.wire.tcp_options import OPTION_LENGTHS

ETHERNET_MTU = 1500
"""The MTU of an Ethernet link (RFC 894)."""

SYN_MSS = {family: ETHERNET_MTU - IP_HEADER[family] - TCP_MIN_HEADER for family in (4, 6)}
"""MSS our SYN probes announce: what an Ethernet host announces (1500 - 40 / - 60)."""

_FULL_SYN_OPTIONS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class WireTag:
    """How one probe looks on the wire, kept until its reply comes."""

    probe: Probe
    src: IPAddress
    """Our source address (in the checksums and quotes)."""
    sent_at: float
    """Driver-clock seconds when it left, for the reply's rtt."""
    counter: int
    """The book's running count; the other identifiers derive from it."""
    echo_ident: int
    echo_seq: int
    sport: int
    tcp_seq: int
    ip_id: int
    payload_len: int
    """Transport payload bytes (TCP: after the options)."""
    mark: bool = False
    """A flow's UDP probe: the payload starts with `tcp_seq` (the flow's probe number,
    4 bytes, big-endian)."""


def syn_options_len(room: int) -> int:
    """Option bytes a TCP SYN probe carries when `room` bytes follow its fixed header."""
    if room >= _FULL_SYN_OPTIONS:
        return _FULL_SYN_OPTIONS
    mss = OPTION_LENGTHS[TcpOptionKind.MSS]
    return mss if room >= mss else 0


def encode_probe(tag: WireTag) -> bytes:
    """The whole IP packet of a registered probe, `tag.probe.size` bytes long.

    Args:
        tag: from `ProbeBook.register`.

    Returns:
        The packet, IP header included, checksums filled in.
    """
    probe = tag.probe
    dst: IPv4Address | IPv6Address = probe.dst
    if probe.kind is ProbeKind.ECHO:
        packet = build_icmp_echo(
            src=tag.src,
            dst=dst,
            ident=tag.echo_ident,
            seq=tag.echo_seq,
            payload=bytes(probe.payload_size),
            ip_ident=tag.ip_id,
            ttl=probe.ttl,
            df=probe.df,
        )
    elif probe.kind is ProbeKind.UDP:
        assert probe.dport is not None  # Probe.__post_init__ requires it
        packet = build_udp(
            src=tag.src,
            dst=dst,
            sport=tag.sport,
            dport=probe.dport,
            payload=_marked(tag, probe.payload_size),
            ident=tag.ip_id,
            ttl=probe.ttl,
            df=probe.df,
        )
    else:
        assert probe.dport is not None  # Probe.__post_init__ requires it
        options = syn_options_len(probe.payload_size)
        full = options == _FULL_SYN_OPTIONS
        packet = build_tcp(
            src=tag.src,
            dst=dst,
            sport=tag.sport,
            dport=probe.dport,
            seq=tag.tcp_seq,
            mss=SYN_MSS[probe.family] if options else None,
            sack_permitted=full,
            timestamps=(tag.counter, 0) if full else None,
            wscale=7 if full else None,
            payload=bytes(tag.payload_len),
            ident=tag.ip_id,
            ttl=probe.ttl,
            df=probe.df,
        )
    if len(packet) != probe.size:  # a builder that pads differently would break the sizes
        raise UsageError(f"built a {len(packet)}-byte packet for a {probe.size}-byte probe")
    return packet


def _marked(tag: WireTag, size: int) -> bytes:
    """A UDP probe's payload: zeros, led by a flow's probe number (when it fits)."""
    if not tag.mark or size < 4:
        return bytes(size)
    return tag.tcp_seq.to_bytes(4, "big") + bytes(size - 4)


def strip_ip_header(packet: bytes, family: int) -> bytes:
    """The transport part of a packet built by `encode_probe` (IPv6 raw sockets add their own).

    Args:
        packet: the whole packet.
        family: 4 or 6.

    Returns:
        The bytes after the fixed IP header.
    """
    return packet[IP_HEADER[family] :]
