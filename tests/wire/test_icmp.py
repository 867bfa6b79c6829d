"""Tests for mtuscope.wire.icmp: errors with their quotes, and echo messages."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import Malformed, Truncated, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.enums import Icmp4Type, Icmp6Type, IpProto
from mtuscope.wire.icmp import (
    IcmpEcho,
    decode_icmp_echo,
    decode_icmp_error,
    encode_icmp_echo,
    encode_icmp_error,
)
from mtuscope.wire.tcp import TcpFlags

ROUTER6 = IPv6Address("2001:db8:ffff::1")
HOST6 = IPv6Address("2001:db8::1")


def test_frag_needed_quoting_a_syn(vector: Callable[[str], bytes]) -> None:
    message = decode_icmp_error(vector("icmp4_frag_needed")[20:], family=4)
    assert message.type is Icmp4Type.DEST_UNREACH and message.code == 4
    assert message.mtu == 1400
    assert message.is_error
    assert message.original_len is None
    assert message.quote_len == 28
    assert message.notes == ()
    quote = message.quote
    assert quote is not None
    assert quote.family == 4
    assert (quote.src, quote.dst) == (IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2"))
    assert quote.proto is IpProto.TCP
    assert (quote.ip_len, quote.ttl, quote.ip_id, quote.df) == (60, 64, 0x1234, True)
    assert (quote.sport, quote.dport, quote.seq) == (40000, 443, 0x11223344)
    assert quote.tcp_flags is None and quote.tcp_options is None  # only 8 bytes quoted
    assert quote.truncated
    assert quote.header_len == 20


def test_whole_quoted_syn_gives_its_options(vector: Callable[[str], bytes]) -> None:
    syn = vector("ipv4_tcp_syn")
    raw = encode_icmp_error(family=4, type=3, code=4, mtu=1280, quote=syn)
    quote = decode_icmp_error(raw, family=4).quote
    assert quote is not None and not quote.truncated
    assert quote.tcp_flags == TcpFlags.SYN
    assert quote.tcp_options is not None and quote.tcp_options.mss == 1460
    assert quote.raw == syn
    # cut inside the options: flags yes, options no
    cut = decode_icmp_error(raw[: 8 + 50], family=4).quote
    assert cut is not None and cut.tcp_flags == TcpFlags.SYN and cut.tcp_options is None


def test_packet_too_big_with_extension_chain(vector: Callable[[str], bytes]) -> None:
    raw = vector("icmp6_ptb_ext_chain")
    assert internet_checksum(pseudo_header(ROUTER6, HOST6, 58, len(raw)) + raw) == 0
    message = decode_icmp_error(raw, family=6)
    assert message.type is Icmp6Type.PACKET_TOO_BIG and message.mtu == 1280
    assert message.notes == ()
    quote = message.quote
    assert quote is not None
    assert quote.family == 6 and quote.src == HOST6
    assert quote.proto is IpProto.TCP  # after hop-by-hop and fragment headers
    assert quote.header_len == 56
    assert (quote.ip_len, quote.ttl, quote.ip_id, quote.df) == (180, 63, 0xDEADBEEF, True)
    assert (quote.sport, quote.dport, quote.seq) == (50000, 80, 0xA1B2C3D4)
    assert quote.tcp_options is not None and quote.tcp_options.mss == 1440


def test_rfc4884_length_limits_the_quote(vector: Callable[[str], bytes]) -> None:
    raw = vector("icmp4_time_exceeded_rfc4884")
    assert internet_checksum(raw) == 0
    message = decode_icmp_error(raw, family=4)
    assert message.type is Icmp4Type.TIME_EXCEEDED and message.mtu is None
    assert message.original_len == 128
    assert message.quote_len == 128  # the 12 extension bytes are not quote
    quote = message.quote
    assert quote is not None and not quote.truncated
    assert (quote.proto, quote.sport, quote.dport, quote.ttl) == (IpProto.UDP, 33434, 33435, 1)


def test_frag_needed_mtu_is_bytes_6_7_even_with_an_rfc4884_length() -> None:
    # Wireshark reads icmp.mtu from bytes 6-7 whatever byte 5 says.
    raw = bytes.fromhex("0304 0000 0020 0578") + bytes(20)
    message = decode_icmp_error(raw, family=4)
    assert message.mtu == 1400 and message.original_len == 128


def test_mtu_zero_and_small_ptb_are_reported_not_raised() -> None:
    old = decode_icmp_error(bytes.fromhex("0304 0000 0000 0000"), family=4)
    assert old.mtu == 0 and "RFC 1191" in old.notes[0]
    small = decode_icmp_error(bytes.fromhex("0200 0000 0000 0200"), family=6)
    assert small.mtu == 512 and "1280" in small.notes[0]
    assert small.quote is None and small.quote_len == 0


@pytest.mark.parametrize(
    ("quote", "note"),
    [
        (b"\x45" + bytes(10), "does not decode"),
        (b"\x55" + bytes(30), "IP version 5"),
        (b"\x43" + bytes(30), "does not decode"),  # IHL 3
    ],
)
def test_short_or_odd_quotes_never_raise(quote: bytes, note: str) -> None:
    message = decode_icmp_error(bytes.fromhex("0b00 0000 0000 0000") + quote, family=4)
    assert message.quote is None
    assert note in message.notes[0]


def test_quoted_later_fragment_has_no_ports() -> None:
    ip = bytes.fromhex("4500 05dc 0001 00b9 4011 0000 c0000201 c6336402") + bytes(8)
    quote = decode_icmp_error(bytes.fromhex("0b01 0000 0000 0000") + ip, family=4).quote
    assert quote is not None and quote.frag_offset == 1480
    assert quote.sport is None and quote.proto is IpProto.UDP


def test_quote_with_ipv4_options_cut() -> None:
    ip = bytes.fromhex("4600 0040 0001 4000 4006 0000 c0000201 c6336402 9404")
    quote = decode_icmp_error(bytes.fromhex("0304 0000 0000 0500") + ip, family=4).quote
    assert quote is not None and quote.header_len == 24 and quote.sport is None


def test_redirect_quote_is_header_plus_8() -> None:
    ip = bytes.fromhex("4500 0040 0001 4000 4011 0000 c0000201 c6336402")
    message = decode_icmp_error(bytes.fromhex("0501 0000 cb007101") + ip + bytes(40), family=4)
    assert message.quote_len == 28


def test_non_errors_have_no_quote() -> None:
    message = decode_icmp_error(bytes.fromhex("0800 0000 0001 0002") + bytes(20), family=4)
    assert not message.is_error and message.quote is None and message.mtu is None


def test_errors_raise_only_for_the_header() -> None:
    with pytest.raises(Truncated):
        decode_icmp_error(bytes.fromhex("0304 0000 0005"), family=4)
    with pytest.raises(UsageError):
        decode_icmp_error(bytes(8), family=5)
    with pytest.raises(UsageError):
        encode_icmp_error(family=4, type=3, code=4, quote=b"")  # no MTU
    with pytest.raises(UsageError):
        encode_icmp_error(family=6, type=2, mtu=1280, quote=b"")  # no addresses


def test_echo_round_trip_both_families() -> None:
    v4 = IcmpEcho(family=4, ident=0x1234, seq=7, payload=b"mtuscope")
    raw4 = encode_icmp_echo(v4)
    assert raw4[:2] == b"\x08\x00" and internet_checksum(raw4) == 0
    assert decode_icmp_echo(raw4, family=4) == IcmpEcho(
        family=4,
        ident=0x1234,
        seq=7,
        payload=b"mtuscope",
        checksum=decode_icmp_echo(raw4, family=4).checksum,
    )
    v6 = IcmpEcho(family=6, reply=True, ident=1, seq=2, payload=b"x")
    raw6 = encode_icmp_echo(v6, src=HOST6, dst=ROUTER6)
    assert raw6[0] == 129
    assert internet_checksum(pseudo_header(HOST6, ROUTER6, 58, len(raw6)) + raw6) == 0
    assert decode_icmp_echo(raw6, family=6).reply
    with pytest.raises(Malformed):
        decode_icmp_echo(raw6, family=4)
    with pytest.raises(UsageError):
        IcmpEcho(family=4, ident=1 << 16)


@given(st.binary(max_size=120), st.sampled_from([4, 6]))
def test_any_bytes_decode_or_raise_decode_error(data: bytes, family: int) -> None:
    try:
        message = decode_icmp_error(data, family=family)
    except Truncated:
        assert len(data) < 8
        return
    assert message.quote_len <= max(0, len(data) - 8)


@given(st.sampled_from([3, 11, 12]), st.binary(min_size=20, max_size=80))
def test_any_quote_decodes(kind: int, quote: bytes) -> None:
    message = decode_icmp_error(bytes([kind, 0, 0, 0, 0, 0, 0, 0]) + b"\x45" + quote, family=4)
    assert message.is_error
