"""Tests for mtuscope.wire.udp."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.udp import UdpHeader, decode_udp, encode_udp

SRC6, DST6 = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")


def test_decode_own_vector() -> None:
    # ports 33434 -> 33435, length 108, checksum 0x0da9 (the probe quoted in
    # tests/vectors/icmp4_time_exceeded_rfc4884.hex)
    header = decode_udp(bytes.fromhex("829a 829b 006c 0da9"))
    assert header == UdpHeader(sport=33434, dport=33435, length=108, checksum=0x0DA9)


def test_errors() -> None:
    with pytest.raises(Truncated):
        decode_udp(b"\x00" * 7)
    with pytest.raises(Malformed):
        decode_udp(bytes.fromhex("0001 0002 0007 0000"))
    assert decode_udp(bytes.fromhex("0001 0002 0000 0000")).length == 0  # jumbogram
    with pytest.raises(UsageError):
        encode_udp(sport=1, dport=2, payload=bytes(65536), src=SRC6, dst=DST6)
    with pytest.raises(UsageError):
        encode_udp(sport=1, dport=2, payload=b"", src=IPv4Address("192.0.2.1"), dst=DST6)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_round_trip(sport: int, dport: int, payload: bytes) -> None:
    raw = encode_udp(sport=sport, dport=dport, payload=payload, src=SRC6, dst=DST6)
    header = decode_udp(raw)
    assert (header.sport, header.dport, header.length) == (sport, dport, 8 + len(payload))
    assert header.checksum != 0  # 0 would mean "no checksum"
    assert internet_checksum(pseudo_header(SRC6, DST6, 17, len(raw)) + raw) == 0
