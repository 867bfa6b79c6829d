"""Tests for mtuscope.wire.tcp."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.tcp import TcpFlags, TcpHeader, decode_tcp, encode_tcp
from mtuscope.wire.tcp_options import decode_tcp_options, encode_tcp_options, syn_options

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2")


def test_decode_vector(vector: Callable[[str], bytes]) -> None:
    tcp = decode_tcp(vector("ipv4_tcp_syn")[20:])
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack) == (40000, 443, 0x11223344, 0)
    assert tcp.header_len == 40
    assert tcp.flags == TcpFlags.SYN
    assert (tcp.window, tcp.checksum, tcp.urgent) == (64240, 0x7A8E, 0)
    assert tcp.options.mss == 1460 and tcp.options.wscale == 7


def test_encode_reproduces_vector(vector: Callable[[str], bytes]) -> None:
    raw = vector("ipv4_tcp_syn")[20:]
    assert encode_tcp(decode_tcp(raw), src=SRC, dst=DST) == raw
    assert encode_tcp(decode_tcp(raw)) == raw  # checksum written as found
    assert internet_checksum(pseudo_header(SRC, DST, 6, len(raw)) + raw) == 0


def test_errors(vector: Callable[[str], bytes]) -> None:
    raw = vector("ipv4_tcp_syn")[20:]
    with pytest.raises(Truncated):
        decode_tcp(raw[:19])
    with pytest.raises(Truncated):
        decode_tcp(raw[:39])  # the options the data offset announces are cut
    with pytest.raises(Malformed):
        decode_tcp(raw[:12] + b"\x40\x02" + raw[14:])  # data offset 4
    with pytest.raises(UsageError):
        encode_tcp(decode_tcp(raw), src=SRC)
    with pytest.raises(UsageError):
        TcpHeader(sport=70000, dport=1)
    with pytest.raises(UsageError):
        TcpHeader(sport=1, dport=1, header_len=22)


def test_ae_flag_and_payload() -> None:
    header = TcpHeader(sport=1, dport=2, flags=TcpFlags.ACK | TcpFlags.AE | TcpFlags.PSH)
    raw = encode_tcp(header, src=SRC, dst=DST, payload=b"hello")
    assert raw[12:14] == b"\x51\x18"
    assert raw[20:] == b"hello"
    assert decode_tcp(raw).flags == header.flags


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
    st.integers(0, 0x1FF).map(TcpFlags),
    st.none() | st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 14),
    st.booleans(),
)
def test_round_trip(
    sport: int,
    dport: int,
    seq: int,
    flags: TcpFlags,
    mss: int | None,
    wscale: int | None,
    sack: bool,
) -> None:
    options = decode_tcp_options(
        encode_tcp_options(syn_options(mss=mss, wscale=wscale, sack_permitted=sack))
    )
    header = TcpHeader(
        sport=sport,
        dport=dport,
        seq=seq,
        ack=seq ^ 0xFFFF,
        flags=flags,
        options=options,
        header_len=20 + len(encode_tcp_options(options.options)),
    )
    raw = encode_tcp(header, src=SRC, dst=DST)
    decoded = decode_tcp(raw)
    assert decoded == dataclasses.replace(header, checksum=decoded.checksum)
    assert internet_checksum(pseudo_header(SRC, DST, 6, len(raw)) + raw) == 0
