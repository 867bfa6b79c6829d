"""ProbeBook: probe packets from wire/ builders, and replies mapped back (no sockets)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.active.matching import Matched, ProbeBook
from mtuscope.active.probe import (
    Datagram,
    IPAddress,
    Layer,
    Probe,
    ProbeKind,
    ReplyKind,
    unreachable_symbol,
)
from mtuscope.active.probe_packet import WireTag, encode_probe
from mtuscope.wire.builders import build_icmp_echo, build_icmp_error, build_tcp
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import TcpFlags, decode_tcp

SRC: dict[int, IPAddress] = {4: IPv4Address("192.0.2.1"), 6: IPv6Address("2001:db8:1::1")}
DST: dict[int, IPAddress] = {4: IPv4Address("198.51.100.1"), 6: IPv6Address("2001:db8:2::1")}
ROUTER: dict[int, IPAddress] = {4: IPv4Address("192.0.2.254"), 6: IPv6Address("2001:db8:1::ff")}
TOO_BIG = {4: (3, 4), 6: (2, 0)}


def _book(capacity: int = 4096) -> ProbeBook:
    return ProbeBook(ident=0x1234, port_base=40000, rng=random.Random(5), capacity=capacity)


def _probe(family: int, kind: ProbeKind, size: int, pid: int = 1) -> Probe:
    dport = None if kind is ProbeKind.ECHO else 8080
    return Probe(id=pid, family=family, dst=DST[family], size=size, ttl=9, kind=kind, dport=dport)


def _tag(book: ProbeBook, probe: Probe) -> WireTag:
    return book.register(probe, src=SRC[probe.family], sent_at=10.0)


def _match(book: ProbeBook, family: int, packet: bytes, sender: IPAddress) -> Matched | None:
    """Match as an engine does: the bytes a raw socket of that kind returns, as a Datagram."""
    if family == 4:
        return book.match(Datagram(layer=Layer.IPV4, data=packet), received_at=10.25)
    layer = Layer.ICMP6 if packet[6] == 58 else Layer.TCP6  # next header 58: ICMPv6
    datagram = Datagram(layer=layer, data=packet[40:], from_addr=sender, ttl=60)
    return book.match(datagram, received_at=10.25)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", list(ProbeKind))
@pytest.mark.parametrize("extra", [0, 1, 3, 4, 19, 20, 21, 1400])
def test_encoded_probes_have_exactly_the_size_and_ttl(
    family: int, kind: ProbeKind, extra: int
) -> None:
    base = {4: 20, 6: 40}[family] + (20 if kind is ProbeKind.TCP_SYN else 8)
    packet = encode_probe(_tag(_book(), _probe(family, kind, base + extra)))
    assert len(packet) == base + extra
    header = decode_ipv4(packet) if family == 4 else decode_ipv6(packet)
    if family == 4:
        assert decode_ipv4(packet).ttl == 9 and decode_ipv4(packet).df
    else:
        assert decode_ipv6(packet).hop_limit == 9
    assert header.dst == DST[family] and header.src == SRC[family]


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", list(ProbeKind))
def test_too_big_quoting_the_probe_maps_back(family: int, kind: ProbeKind) -> None:
    book = _book()
    _tag(book, _probe(family, kind, 1000, pid=1))
    tag = _tag(book, _probe(family, kind, 1401, pid=2))
    packet = encode_probe(tag)
    kind_code = TOO_BIG[family]
    error = build_icmp_error(
        src=ROUTER[family],
        dst=SRC[family],
        type=kind_code[0],
        code=kind_code[1],
        quote=packet[: 28 if family == 4 else 1232],
        mtu=1400,
    )
    matched = _match(book, family, error, ROUTER[family])
    assert matched is not None and matched.reply.probe_id == 2
    assert matched.reply.kind is ReplyKind.TOO_BIG and matched.reply.mtu == 1400
    assert matched.reply.from_addr == ROUTER[family]
    assert matched.reply.rtt == pytest.approx(0.25)
    assert _match(book, family, error, ROUTER[family]) is None  # a duplicate is dropped


def test_a_quote_of_the_ipv4_header_alone_maps_by_ip_id() -> None:
    book = _book()
    tag = _tag(book, _probe(4, ProbeKind.ECHO, 1401))
    error = build_icmp_error(
        src=ROUTER[4], dst=SRC[4], type=11, code=0, quote=encode_probe(tag)[:20]
    )
    matched = book.match_ipv4(error, received_at=11.0)
    assert matched is not None and matched.reply.kind is ReplyKind.TIME_EXCEEDED


@pytest.mark.parametrize("family", [4, 6])
def test_echo_reply_maps_back_only_from_the_destination_with_our_ident(family: int) -> None:
    book = _book()
    tag = _tag(book, _probe(family, ProbeKind.ECHO, 100))

    def reply(ident: int, src: IPAddress) -> bytes:
        return build_icmp_echo(
            src=src, dst=SRC[family], ident=ident, seq=tag.echo_seq, reply=True, ttl=60
        )

    assert _match(book, family, reply(0x4321, DST[family]), DST[family]) is None
    assert _match(book, family, reply(0x1234, ROUTER[family]), ROUTER[family]) is None
    matched = _match(book, family, reply(0x1234, DST[family]), DST[family])
    assert matched is not None and matched.reply.kind is ReplyKind.ECHO_REPLY
    assert matched.reply.ttl == 60


@pytest.mark.parametrize("family", [4, 6])
def test_syn_ack_maps_back_with_its_options(family: int) -> None:
    book = _book()
    tag = _tag(book, _probe(family, ProbeKind.TCP_SYN, 200))
    syn = decode_tcp(encode_probe(tag)[{4: 20, 6: 40}[family] :])
    assert syn.options.mss == {4: 1460, 6: 1440}[family] and syn.options.sack_permitted

    def answer(ack: int, flags: TcpFlags, mss: int | None = 1360) -> bytes:
        return build_tcp(
            src=DST[family],
            dst=SRC[family],
            sport=8080,
            dport=tag.sport,
            ack=ack,
            flags=flags,
            mss=mss,
            sack_permitted=mss is not None,
        )

    synack = TcpFlags.SYN | TcpFlags.ACK
    assert _match(book, family, answer(tag.tcp_seq + 5, synack), DST[family]) is None
    matched = _match(book, family, answer(tag.tcp_seq + 1, synack), DST[family])
    assert matched is not None and matched.reply.kind is ReplyKind.TCP_RESPONSE
    assert matched.reply.tcp_options is not None and matched.reply.tcp_options.mss == 1360


def test_rst_acknowledging_the_syn_data_maps_back_without_options() -> None:
    book = _book()
    tag = _tag(book, _probe(4, ProbeKind.TCP_SYN, 200))
    rst = build_tcp(
        src=DST[4],
        dst=SRC[4],
        sport=8080,
        dport=tag.sport,
        ack=(tag.tcp_seq + 1 + tag.payload_len) % (1 << 32),
        flags=TcpFlags.RST | TcpFlags.ACK,
    )
    matched = book.match_ipv4(rst, received_at=10.5)
    assert matched is not None and matched.reply.tcp_options is None


def test_old_probes_are_forgotten_beyond_capacity() -> None:
    book = _book(capacity=2)
    first = _tag(book, _probe(4, ProbeKind.ECHO, 100, pid=1))
    for pid in (2, 3):
        _tag(book, _probe(4, ProbeKind.ECHO, 100, pid=pid))
    assert len(book) == 2
    reply = build_icmp_echo(src=DST[4], dst=SRC[4], ident=0x1234, seq=first.echo_seq, reply=True)
    assert book.match_ipv4(reply, received_at=11.0) is None


def test_garbage_is_ignored() -> None:
    book = _book()
    _tag(book, _probe(4, ProbeKind.ECHO, 100))
    assert book.match_ipv4(b"\x45\x00", received_at=1.0) is None
    assert (
        book.match_icmp(b"\x03\x04", family=4, from_addr=DST[4], ttl=None, received_at=1.0) is None
    )
    assert book.match_tcp(b"\x00" * 10, from_addr=DST[4], ttl=None, received_at=1.0) is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), family=st.sampled_from([4, 6]))
def test_any_bytes_match_or_not_but_never_raise(data: bytes, family: int) -> None:
    book = _book()
    for kind in ProbeKind:
        _tag(book, _probe(family, kind, 300))
    if family == 4:
        book.match_ipv4(data, received_at=1.0)
    book.match_icmp(data, family=family, from_addr=DST[family], ttl=None, received_at=1.0)
    book.match_tcp(data, from_addr=DST[family], ttl=None, received_at=1.0)


def test_without_a_receive_time_the_reply_leaves_the_rtt_to_the_driver() -> None:
    # The transports never read the clock: they match without `received_at`.
    book = _book()
    tag = _tag(book, _probe(4, ProbeKind.ECHO, 100))
    reply = build_icmp_echo(
        src=DST[4], dst=SRC[4], ident=tag.echo_ident, seq=tag.echo_seq, reply=True
    )
    matched = book.match_ipv4(reply)
    assert matched is not None and matched.reply.kind is ReplyKind.ECHO_REPLY
    assert matched.reply.rtt is None


def test_ipv6_bytes_without_a_sender_match_nothing() -> None:
    book = _book()
    tag = _tag(book, _probe(6, ProbeKind.ECHO, 100))
    reply = build_icmp_echo(
        src=DST[6], dst=SRC[6], ident=tag.echo_ident, seq=tag.echo_seq, reply=True
    )
    assert book.match(Datagram(layer=Layer.ICMP6, data=reply[40:])) is None
    matched = book.match(Datagram(layer=Layer.ICMP6, data=reply[40:], from_addr=DST[6]))
    assert matched is not None and matched.reply.kind is ReplyKind.ECHO_REPLY


@pytest.mark.parametrize("family", [4, 6])
def test_kernel_stamps_time_the_reply_not_the_driver_clock(family: int) -> None:
    """Send and receive stamps of the kernel (same clock): the rtt is their difference,
    whatever the driver's clock said when it built the packet and read the reply."""
    book = _book()
    tag = _tag(book, _probe(family, ProbeKind.ECHO, 100, pid=7))  # driver clock: 10.0
    book.stamp_sent(7, 1_700_000_000.000100)
    reply = build_icmp_echo(
        src=DST[family], dst=SRC[family], ident=tag.echo_ident, seq=tag.echo_seq, reply=True
    )
    layer, data = (Layer.IPV4, reply) if family == 4 else (Layer.ICMP6, reply[40:])
    datagram = Datagram(layer=layer, data=data, from_addr=DST[family], stamp=1_700_000_000.000150)
    matched = book.match(datagram, received_at=10.25)  # the driver read it 0.25 s later
    assert matched is not None
    assert matched.reply.rtt == pytest.approx(50e-6, abs=1e-7)


def test_without_a_send_stamp_the_driver_clock_times_the_reply() -> None:
    book = _book()
    tag = _tag(book, _probe(4, ProbeKind.ECHO, 100))
    reply = build_icmp_echo(
        src=DST[4], dst=SRC[4], ident=tag.echo_ident, seq=tag.echo_seq, reply=True
    )
    matched = book.match(Datagram(layer=Layer.IPV4, data=reply, stamp=5.0), received_at=10.25)
    assert matched is not None and matched.reply.rtt == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("family", "code", "symbol"), [(4, 1, "!H"), (4, 0, "!N"), (4, 13, "!X"), (6, 3, "!H")]
)
def test_an_unreachable_keeps_its_code(family: int, code: int, symbol: str) -> None:
    book = _book()
    tag = _tag(book, _probe(family, ProbeKind.ECHO, 100))
    error = build_icmp_error(
        src=ROUTER[family],
        dst=SRC[family],
        type=3 if family == 4 else 1,
        code=code,
        quote=encode_probe(tag)[: 28 if family == 4 else 48],
    )
    matched = _match(book, family, error, ROUTER[family])
    assert matched is not None and matched.reply.kind is ReplyKind.UNREACHABLE
    assert matched.reply.code == code
    assert unreachable_symbol(family, code) == symbol


@pytest.mark.parametrize("family", [4, 6])
def test_a_port_unreachable_from_a_box_on_the_way_is_no_arrival(family: int) -> None:
    """Only the destination refusing the port proves the probe arrived whole."""
    book = _book()
    for sender, kind in ((ROUTER[family], ReplyKind.UNREACHABLE), (DST[family], None)):
        tag = _tag(book, _probe(family, ProbeKind.UDP, 100))
        error = build_icmp_error(
            src=sender,
            dst=SRC[family],
            type=3 if family == 4 else 1,
            code=3 if family == 4 else 4,
            quote=encode_probe(tag)[: 28 if family == 4 else 48],
        )
        matched = _match(book, family, error, sender)
        assert matched is not None
        assert matched.reply.kind is (kind or ReplyKind.PORT_UNREACHABLE)
        assert matched.reply.code == (3 if family == 4 else 4)
