"""Tests for mtuscope.wire.checksum."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header

# RFC 1071 §3 "Numerical Examples": https://www.rfc-editor.org/rfc/rfc1071#section-3
# The one's complement sum of these bytes is 0xddf2; the checksum is its complement.
RFC1071_BYTES = bytes.fromhex("0001f203f4f5f6f7")
RFC1071_SUM = 0xDDF2


def test_rfc1071_example() -> None:
    assert internet_checksum(RFC1071_BYTES) == ~RFC1071_SUM & 0xFFFF == 0x220D


def test_odd_length_pads_on_the_right() -> None:
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00") == 0xFEFF


@given(st.binary(max_size=64).map(lambda b: b + bytes(len(b) % 2)))
def test_data_with_its_checksum_sums_to_zero(data: bytes) -> None:
    whole = data + internet_checksum(data).to_bytes(2, "big")
    assert internet_checksum(whole) == 0


def test_pseudo_headers() -> None:
    v4 = pseudo_header(IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2"), 6, 40)
    assert v4 == bytes.fromhex("c0000201 c6336402 00 06 0028")
    v6 = pseudo_header(IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2"), 17, 70000)
    assert len(v6) == 40
    assert v6[32:] == (70000).to_bytes(4, "big") + b"\x00\x00\x00\x11"


def test_pseudo_header_refuses_mixed_families() -> None:
    with pytest.raises(UsageError):
        pseudo_header(IPv4Address("192.0.2.1"), IPv6Address("2001:db8::1"), 6, 20)
