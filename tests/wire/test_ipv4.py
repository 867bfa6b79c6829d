"""Tests for mtuscope.wire.ipv4."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.checksum import internet_checksum
from mtuscope.wire.enums import IpProto
from mtuscope.wire.ipv4 import Ipv4Header, decode_ipv4, encode_ipv4


def test_decode_vector(vector: Callable[[str], bytes]) -> None:
    header = decode_ipv4(vector("ipv4_tcp_syn"))
    assert header.header_len == 20
    assert header.total_length == 60
    assert header.ident == 0x1234
    assert header.df and not header.mf and not header.fragment
    assert header.ttl == 64
    assert header.proto is IpProto.TCP
    assert header.checksum == 0x3C51
    assert header.src == IPv4Address("192.0.2.1")
    assert header.dst == IPv4Address("198.51.100.2")
    assert header.options == b""


def test_encode_reproduces_vector_checksum(vector: Callable[[str], bytes]) -> None:
    raw = vector("ipv4_tcp_syn")[:20]
    assert encode_ipv4(dataclasses.replace(decode_ipv4(raw), checksum=0)) == raw
    assert internet_checksum(raw) == 0


def test_fragment_fields_and_options() -> None:
    header = Ipv4Header(
        header_len=24,
        ident=9,
        mf=True,
        frag_offset=1480,
        proto=IpProto.UDP,
        total_length=1500,
        src=IPv4Address("203.0.113.1"),
        dst=IPv4Address("203.0.113.2"),
        options=b"\x94\x04\x00\x00",  # router alert (RFC 2113)
    )
    raw = encode_ipv4(header)
    assert raw[0] == 0x46 and raw[6:8] == (0x2000 | 185).to_bytes(2, "big")
    decoded = decode_ipv4(raw)
    assert decoded == dataclasses.replace(header, checksum=decoded.checksum)
    assert decoded.fragment
    assert encode_ipv4(decoded, fill_checksum=False) == raw


def test_errors(vector: Callable[[str], bytes]) -> None:
    raw = vector("ipv4_tcp_syn")
    with pytest.raises(Truncated):
        decode_ipv4(raw[:19])
    with pytest.raises(Malformed):
        decode_ipv4(b"\x65" + raw[1:])  # version 6
    with pytest.raises(Malformed):
        decode_ipv4(b"\x44" + raw[1:])  # IHL 4
    with pytest.raises(Malformed):
        decode_ipv4(raw[:2] + b"\x00\x10" + raw[4:])  # total length 16 < 20
    assert decode_ipv4(raw[:2] + b"\x00\x10" + raw[4:], lenient=True).total_length == 16


def test_options_cut_by_the_capture() -> None:
    raw = b"\x47" + bytes(19) + b"\x01\x01"  # IHL 7: 8 option bytes announced, 2 present
    with pytest.raises(Truncated):
        decode_ipv4(raw)
    header = decode_ipv4(raw, lenient=True)
    assert header.truncated and header.options == b"\x01\x01" and header.header_len == 28
    with pytest.raises(UsageError):
        encode_ipv4(header)


def test_invalid_headers_are_refused() -> None:
    addr = IPv4Address("192.0.2.1")
    with pytest.raises(UsageError):
        Ipv4Header(header_len=22, src=addr, dst=addr)
    with pytest.raises(UsageError):
        Ipv4Header(ttl=256, src=addr, dst=addr)
    with pytest.raises(UsageError):
        Ipv4Header(frag_offset=3, src=addr, dst=addr)
    with pytest.raises(UsageError):
        Ipv4Header(header_len=24, options=b"", src=addr, dst=addr)


headers = st.integers(0, 10).flatmap(
    lambda words: st.builds(
        Ipv4Header,
        header_len=st.just(20 + 4 * words),
        options=st.binary(min_size=4 * words, max_size=4 * words),
        tos=st.integers(0, 255),
        total_length=st.integers(60, 0xFFFF),
        ident=st.integers(0, 0xFFFF),
        df=st.booleans(),
        mf=st.booleans(),
        frag_offset=st.integers(0, 0x1FFF).map(lambda o: o * 8),
        ttl=st.integers(0, 255),
        proto=st.integers(0, 255).map(IpProto),
        src=st.integers(0, 2**32 - 1).map(IPv4Address),
        dst=st.integers(0, 2**32 - 1).map(IPv4Address),
    )
)


@given(headers)
def test_round_trip(header: Ipv4Header) -> None:
    raw = encode_ipv4(header)
    decoded = decode_ipv4(raw)
    assert decoded == dataclasses.replace(header, checksum=decoded.checksum)
    assert internet_checksum(raw) == 0
