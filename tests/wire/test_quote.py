"""The packet an ICMP error quotes: what there is of it, never an exception."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from mtuscope.wire import IpProto, build_tcp, build_udp, decode_quote

SRC4, DST4 = IPv4Address("192.0.2.1"), IPv4Address("203.0.113.2")
SRC6, DST6 = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")


def test_udp_quote_gives_ports() -> None:
    packet = build_udp(src=SRC4, dst=DST4, sport=40000, dport=33434, payload=bytes(100))
    notes: list[str] = []
    q = decode_quote(packet[:28], notes)  # RFC 792: the IP header and 8 bytes
    assert q is not None and notes == []
    assert (q.family, q.proto, q.sport, q.dport, q.seq) == (4, IpProto.UDP, 40000, 33434, None)
    assert q.truncated and q.ip_len == 128


def test_tcp_quote_gives_seq_flags_and_options_when_whole() -> None:
    packet = build_tcp(src=SRC6, dst=DST6, sport=5000, dport=443, seq=7, mss=1440)
    q = decode_quote(packet, [])
    assert q is not None and q.family == 6 and q.seq == 7
    assert q.tcp_flags is not None and q.tcp_options is not None and q.tcp_options.mss == 1440
    cut = decode_quote(packet[: 40 + 14], [])  # through the flags, not the whole header
    assert cut is not None and cut.tcp_flags is not None and cut.tcp_options is None


def test_odd_quotes_are_notes() -> None:
    notes: list[str] = []
    assert decode_quote(b"", notes) is None
    assert decode_quote(b"\x50" + bytes(30), notes) is None
    assert decode_quote(b"\x45" + bytes(5), notes) is None
    assert notes[0] == "error message without a quote"
    assert "IP version 5" in notes[1] and "does not decode" in notes[2]
