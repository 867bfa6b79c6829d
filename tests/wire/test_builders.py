"""Tests for mtuscope.wire.builders: whole packets decode back to what was asked."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import pytest

from mtuscope.errors import UsageError
from mtuscope.wire.builders import build_icmp_echo, build_icmp_error, build_ip, build_tcp, build_udp
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.enums import IpProto, TcpOptionKind
from mtuscope.wire.icmp import decode_icmp_echo, decode_icmp_error
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import TcpFlags, decode_tcp
from mtuscope.wire.tcp_options import TcpOption
from mtuscope.wire.udp import decode_udp

V4 = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2")
V6 = IPv6Address("2001:db8::1"), IPv6Address("2001:db8:1::2")


def test_tcp_syn_matches_the_vector(vector: Callable[[str], bytes]) -> None:
    packet = build_tcp(
        src=V4[0],
        dst=V4[1],
        sport=40000,
        dport=443,
        seq=0x11223344,
        window=64240,
        mss=1460,
        wscale=7,
        sack_permitted=True,
        timestamps=(1000, 0),
        ident=0x1234,
    )
    assert packet == vector("ipv4_tcp_syn")


def test_ipv6_syn_with_payload_and_explicit_options() -> None:
    options = [TcpOption(kind=TcpOptionKind.MSS, data=b"\x04\xc4")]
    packet = build_tcp(
        src=V6[0], dst=V6[1], sport=1, dport=2, options=options, payload=b"data", ttl=3
    )
    ip = decode_ipv6(packet)
    assert ip.hop_limit == 3 and ip.proto is IpProto.TCP and ip.payload_length == 28
    segment = packet[40:]
    tcp = decode_tcp(segment)
    assert tcp.options.mss == 1220 and tcp.flags == TcpFlags.SYN and segment[24:] == b"data"
    assert internet_checksum(pseudo_header(V6[0], V6[1], 6, len(segment)) + segment) == 0


def test_udp_probe_size() -> None:
    packet = build_udp(src=V4[0], dst=V4[1], sport=5, dport=6, payload=bytes(1472), df=True)
    assert len(packet) == 1500
    ip = decode_ipv4(packet)
    assert ip.total_length == 1500 and ip.df and internet_checksum(packet[:20]) == 0
    assert decode_udp(packet[20:]).length == 1480
    assert len(build_udp(src=V6[0], dst=V6[1], sport=5, dport=6, payload=bytes(1232))) == 1280


def test_icmp_echo_both_families() -> None:
    v4 = build_icmp_echo(src=V4[0], dst=V4[1], ident=9, seq=1, payload=b"p")
    assert decode_ipv4(v4).proto is IpProto.ICMP
    assert decode_icmp_echo(v4[20:], family=4).seq == 1
    v6 = build_icmp_echo(src=V6[0], dst=V6[1], ident=9, seq=2, reply=True)
    assert decode_ipv6(v6).proto is IpProto.ICMPV6
    assert decode_icmp_echo(v6[40:], family=6).reply


def test_icmp_error_round_trip_both_families() -> None:
    probe = build_udp(src=V6[0], dst=V6[1], sport=7, dport=8, payload=bytes(1400))
    router = IPv6Address("2001:db8:ffff::1")
    error = build_icmp_error(src=router, dst=V6[0], type=2, mtu=1280, quote=probe[:1232])
    assert len(error) == 1280  # RFC 4443 §2.4(c): as much as fits the minimum MTU
    message = decode_icmp_error(error[40:], family=6)
    assert message.mtu == 1280 and message.quote is not None
    assert (message.quote.sport, message.quote.dport, message.quote.ip_len) == (7, 8, 1448)
    probe4 = build_tcp(src=V4[0], dst=V4[1], sport=1, dport=2, mss=1460)
    error4 = build_icmp_error(
        src=IPv4Address("203.0.113.9"), dst=V4[0], type=3, code=4, mtu=1400, quote=probe4[:28]
    )
    assert decode_icmp_error(error4[20:], family=4).mtu == 1400


def test_refusals() -> None:
    with pytest.raises(UsageError):
        build_ip(src=V4[0], dst=V6[1], proto=6, payload=b"")
    with pytest.raises(UsageError):
        build_ip(src=V4[0], dst=V4[1], proto=6, payload=bytes(65516))
    with pytest.raises(UsageError):
        build_ip(src=V6[0], dst=V6[1], proto=6, payload=bytes(65536))
    with pytest.raises(UsageError):
        build_tcp(src=V4[0], dst=V4[1], sport=1, dport=2, mss=1, options=[])
