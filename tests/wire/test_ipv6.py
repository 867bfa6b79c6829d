"""Tests for mtuscope.wire.ipv6 and its extension-chain walk."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.enums import IpProto
from mtuscope.wire.ipv6 import (
    Ipv6Extension,
    Ipv6Fragment,
    Ipv6Header,
    decode_ipv6,
    encode_ipv6,
    encode_ipv6_fragment,
)

SRC = IPv6Address("2001:db8::1")
DST = IPv6Address("2001:db8:1::2")


def quoted_packet(vector: Callable[[str], bytes]) -> bytes:
    """The IPv6 packet quoted in icmp6_ptb_ext_chain.hex (after the 8-byte ICMPv6 header)."""
    return vector("icmp6_ptb_ext_chain")[8:]


def test_chain_walk(vector: Callable[[str], bytes]) -> None:
    header = decode_ipv6(quoted_packet(vector))
    assert (header.src, header.dst, header.hop_limit) == (SRC, DST, 63)
    assert header.payload_length == 140 and header.ip_len == 180
    assert header.next_header is IpProto.HOPOPT
    assert [e.header for e in header.extensions] == [IpProto.HOPOPT, IpProto.IPV6_FRAG]
    assert header.extensions[0].next_header is IpProto.IPV6_FRAG
    assert header.proto is IpProto.TCP
    assert header.header_len == 56
    assert header.fragment == Ipv6Fragment(
        next_header=IpProto.TCP, offset=0, more=True, ident=0xDEADBEEF
    )
    assert not header.truncated


def test_chain_cut_strict_and_lenient(vector: Callable[[str], bytes]) -> None:
    cut = quoted_packet(vector)[:50]  # inside the fragment header
    with pytest.raises(Truncated):
        decode_ipv6(cut)
    header = decode_ipv6(cut, lenient=True)
    assert header.truncated and header.proto is None
    assert header.header_len == 48  # the hop-by-hop header was walked
    assert decode_ipv6(quoted_packet(vector)[:41], lenient=True).proto is None


def test_later_fragment_stops_the_walk() -> None:
    frag = encode_ipv6_fragment(
        Ipv6Fragment(next_header=IpProto.IPV6_OPTS, offset=1448, more=False, ident=5)
    )
    header = Ipv6Header(
        next_header=IpProto.IPV6_FRAG, src=SRC, dst=DST, extensions=(frag,), payload_length=8
    )
    # a later fragment's payload starts mid-packet: not a destination-options header
    decoded = decode_ipv6(encode_ipv6(header) + b"\xff" * 16)
    assert decoded.proto is IpProto.IPV6_OPTS
    assert decoded.fragment is not None and decoded.fragment.offset == 1448
    assert decoded.header_len == 48


def test_ah_length_counts_four_byte_units() -> None:
    ah = Ipv6Extension(header=IpProto.AH, data=bytes([IpProto.UDP, 4]) + bytes(22))  # 24 bytes
    raw = encode_ipv6(
        Ipv6Header(next_header=IpProto.AH, src=SRC, dst=DST, extensions=(ah,), payload_length=32)
    )
    decoded = decode_ipv6(raw + bytes(8))
    assert decoded.proto is IpProto.UDP and decoded.header_len == 64


def test_errors() -> None:
    with pytest.raises(Truncated):
        decode_ipv6(b"\x60" + bytes(38))
    with pytest.raises(Malformed):
        decode_ipv6(b"\x45" + bytes(39))
    with pytest.raises(UsageError):
        Ipv6Header(flow_label=1 << 20, src=SRC, dst=DST)
    with pytest.raises(UsageError):
        encode_ipv6_fragment(Ipv6Fragment(next_header=IpProto.TCP, offset=3, more=False, ident=0))
    with pytest.raises(UsageError):
        encode_ipv6(
            decode_ipv6(b"\x60" + bytes(5) + b"\x00\x40" + bytes(32) + b"\x06", lenient=True)
        )


@given(
    st.integers(0, 255),
    st.integers(0, 0xFFFFF),
    st.integers(0, 255),
    st.lists(st.sampled_from([IpProto.HOPOPT, IpProto.IPV6_OPTS, IpProto.IPV6_ROUTE]), max_size=3),
    st.sampled_from([IpProto.TCP, IpProto.UDP, IpProto.ICMPV6, IpProto.IPV6_NONXT]),
)
def test_round_trip(
    traffic_class: int, flow: int, hops: int, chain: list[IpProto], last: IpProto
) -> None:
    kinds = [*chain, last]
    extensions = tuple(
        Ipv6Extension(header=kind, data=bytes([kinds[i + 1], 0]) + bytes(6))
        for i, kind in enumerate(chain)
    )
    header = Ipv6Header(
        traffic_class=traffic_class,
        flow_label=flow,
        hop_limit=hops,
        payload_length=8 * len(chain),
        next_header=kinds[0],
        src=SRC,
        dst=DST,
        extensions=extensions,
        proto=last,
        header_len=40 + 8 * len(chain),
    )
    assert decode_ipv6(encode_ipv6(header)) == header
    assert dataclasses.replace(header).ip_len == 40 + 8 * len(chain)
