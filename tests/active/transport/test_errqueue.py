"""sock_extended_err decoding and its mapping to ReplyKind (no sockets)."""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from mtuscope.active.probe import ReplyKind
from mtuscope.active.transport import decode_extended_err, reply_kind
from mtuscope.active.transport.linux import (
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_EE_ORIGIN_LOCAL,
)
from mtuscope.errors import Truncated


def _entry(ee_errno: int, origin: int, kind: int, code: int, info: int, offender: bytes) -> bytes:
    return struct.pack("=IBBBBII", ee_errno, origin, kind, code, 0, info, 0) + offender


def _sin(address: str) -> bytes:
    return struct.pack("=H", socket.AF_INET) + bytes(2) + socket.inet_aton(address) + bytes(8)


def _sin6(address: str) -> bytes:
    packed = socket.inet_pton(socket.AF_INET6, address)
    return struct.pack("=H", socket.AF_INET6) + bytes(6) + packed + bytes(4)


def test_icmp_frag_needed_gives_mtu_and_offender() -> None:
    error = decode_extended_err(
        _entry(errno.EMSGSIZE, SO_EE_ORIGIN_ICMP, 3, 4, 1400, _sin("192.0.2.254"))
    )
    assert error.info == 1400 and error.offender == IPv4Address("192.0.2.254")
    assert (error.type, error.code, error.errno) == (3, 4, errno.EMSGSIZE)
    assert reply_kind(error) is ReplyKind.TOO_BIG


def test_icmp6_too_big_gives_mtu_and_offender() -> None:
    error = decode_extended_err(
        _entry(errno.EMSGSIZE, SO_EE_ORIGIN_ICMP6, 2, 0, 1280, _sin6("2001:db8:1::ff"))
    )
    assert error.info == 1280 and error.offender == IPv6Address("2001:db8:1::ff")
    assert reply_kind(error) is ReplyKind.TOO_BIG


def test_local_errors_have_no_offender() -> None:
    local = decode_extended_err(_entry(errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1500, bytes(16)))
    assert local.offender is None and local.info == 1500
    assert reply_kind(local) is ReplyKind.TOO_BIG
    refused = decode_extended_err(_entry(errno.ENETUNREACH, SO_EE_ORIGIN_LOCAL, 0, 0, 0, b""))
    assert reply_kind(refused) is ReplyKind.LOCAL_ERROR


@pytest.mark.parametrize(
    ("origin", "kind", "code", "expected"),
    [
        (SO_EE_ORIGIN_ICMP, 3, 3, ReplyKind.PORT_UNREACHABLE),
        (SO_EE_ORIGIN_ICMP, 3, 1, ReplyKind.UNREACHABLE),
        (SO_EE_ORIGIN_ICMP, 3, 13, ReplyKind.UNREACHABLE),
        (SO_EE_ORIGIN_ICMP, 11, 0, ReplyKind.TIME_EXCEEDED),
        (SO_EE_ORIGIN_ICMP, 12, 0, None),
        (SO_EE_ORIGIN_ICMP6, 1, 4, ReplyKind.PORT_UNREACHABLE),
        (SO_EE_ORIGIN_ICMP6, 1, 1, ReplyKind.UNREACHABLE),
        (SO_EE_ORIGIN_ICMP6, 3, 0, ReplyKind.TIME_EXCEEDED),
        (SO_EE_ORIGIN_ICMP6, 4, 0, None),
        (0, 0, 0, None),
    ],
)
def test_icmp_types_map_to_reply_kinds(
    origin: int, kind: int, code: int, expected: ReplyKind | None
) -> None:
    error = decode_extended_err(_entry(errno.EHOSTUNREACH, origin, kind, code, 0, b""))
    assert reply_kind(error) is expected


def test_short_entries_raise_truncated() -> None:
    with pytest.raises(Truncated):
        decode_extended_err(bytes(15))


def test_packet_stamps_come_from_the_timestamp_control_messages() -> None:
    from mtuscope.active.transport.errqueue import packet_stamp
    from mtuscope.active.transport.linux import SCM_TIMESTAMPING, SCM_TIMESTAMPNS

    ns = struct.pack("@qq", 1_700_000_000, 123_456_789)
    assert packet_stamp([(socket.SOL_SOCKET, SCM_TIMESTAMPNS, ns)]) == pytest.approx(
        1_700_000_000.123456789
    )
    # SCM_TIMESTAMPING: three timespecs, the first the software one.
    three = ns + bytes(32)
    assert packet_stamp([(socket.SOL_SOCKET, SCM_TIMESTAMPING, three)]) == pytest.approx(
        1_700_000_000.123456789
    )
    assert packet_stamp([(socket.SOL_SOCKET, SCM_TIMESTAMPING, bytes(48))]) is None
    assert packet_stamp([(socket.IPPROTO_IPV6, 52, struct.pack("@i", 60))]) is None


def test_a_real_socket_gets_kernel_send_and_receive_stamps() -> None:
    """Loopback UDP: the transmit stamp on the error queue, the receive stamp on the
    datagram, both the kernel's real-time clock and a few microseconds apart."""
    from mtuscope.active.transport.errqueue import (
        enable_stamps,
        packet_stamp,
        read_error_queue,
        transmit_stamp,
    )
    from mtuscope.active.transport.linux import IP_RECVERR

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        assert enable_stamps(rx, transmit=False)
        tx.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        assert enable_stamps(tx, transmit=True)
        tx.sendto(b"x" * 32, rx.getsockname())
        sent = transmit_stamp(read_error_queue(tx, limit=4))
        rx.settimeout(2.0)
        _data, ancdata, _flags, _addr = rx.recvmsg(100, 256)
        got = packet_stamp(ancdata)
    finally:
        rx.close()
        tx.close()
    assert sent is not None and got is not None
    assert 0.0 <= got - sent < 0.05
