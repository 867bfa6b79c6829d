"""The kernel's error queue: `struct sock_extended_err` bytes -> `QueuedError` -> `ReplyKind`.

Layer: active/transport (an edge). It decodes the bytes that
`recvmsg(..., MSG_ERRQUEUE)` hands back in its `IP_RECVERR` / `IPV6_RECVERR`
control message; its only I/O is that non-blocking read of a socket the
caller opened (`read_error_queue`). It opens, binds and sends nothing.

The control message data is (<linux/errqueue.h>, native byte order):

    offset 0  u32 ee_errno    EMSGSIZE for too-big, EHOSTUNREACH, ECONNREFUSED, ...
    offset 4  u8  ee_origin   SO_EE_ORIGIN_LOCAL (1), _ICMP (2), _ICMP6 (3)
    offset 5  u8  ee_type     ICMP / ICMPv6 type of the error that arrived
    offset 6  u8  ee_code     its code
    offset 7  u8  ee_pad
    offset 8  u32 ee_info     the MTU for a too-big message (and for a local EMSGSIZE)
    offset 12 u32 ee_data
    offset 16 the offender's sockaddr (SO_EE_OFFENDER): sockaddr_in (16 bytes)
              or sockaddr_in6 (28 bytes); family 0 (AF_UNSPEC) for local errors.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.probe import IPAddress, ReplyKind
from mtuscope.active.transport.linux import (
    IP_RECVERR,
    IPV6_HOPLIMIT,
    IPV6_RECVERR,
    SCM_TIMESTAMPING,
    SCM_TIMESTAMPNS,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_EE_ORIGIN_LOCAL,
    SO_EE_ORIGIN_TIMESTAMPING,
    SO_TIMESTAMPING,
    SO_TIMESTAMPNS,
    SOF_TIMESTAMPING_OPT_TSONLY,
    SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
)
from mtuscope.errors import DecodeError, Truncated

_EXTENDED_ERR = struct.Struct("=IBBBBII")
"""sock_extended_err: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data."""
_BUFSIZE = 65535
_TIMESPEC = struct.Struct("@qq")
"""struct timespec on a 64-bit Linux: tv_sec, tv_nsec."""
STAMP_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(3 * _TIMESPEC.size)
"""Room for the timestamp control messages (SCM_TIMESTAMPNS and SCM_TIMESTAMPING)."""
_ANC_SPACE = socket.CMSG_SPACE(64) + socket.CMSG_SPACE(4) + STAMP_SPACE
"""The extended error with the offender's sockaddr, the TTL / hop limit, the timestamps."""
_ERR_CMSGS = ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR))
_TTL_CMSGS = ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT))

# ICMP (RFC 792, RFC 1191) and ICMPv6 (RFC 4443) type/code points the transport maps.
_ICMP4_UNREACH, _ICMP4_TIME_EXCEEDED = 3, 11
_ICMP4_PORT_UNREACH, _ICMP4_FRAG_NEEDED = 3, 4
_ICMP6_UNREACH, _ICMP6_TOO_BIG, _ICMP6_TIME_EXCEEDED = 1, 2, 3
_ICMP6_PORT_UNREACH = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedError:
    """One entry of a socket's error queue."""

    errno: int
    """ee_errno: EMSGSIZE, EHOSTUNREACH, ECONNREFUSED, ..."""
    origin: int
    """ee_origin: SO_EE_ORIGIN_LOCAL, _ICMP or _ICMP6."""
    type: int
    """ICMP / ICMPv6 type (0 for local errors)."""
    code: int
    """ICMP / ICMPv6 code."""
    info: int
    """ee_info: the MTU for too-big messages and for a local EMSGSIZE, in bytes."""
    offender: IPAddress | None
    """Who sent the ICMP error; None for errors the local kernel raised."""
    stamp: float | None = None
    """When the kernel received the ICMP error (or, for a transmit timestamp, sent the
    packet), seconds on its real-time clock; None when the socket asked for no stamps."""


def decode_extended_err(data: bytes) -> QueuedError:
    """Decode the data of an `IP_RECVERR` / `IPV6_RECVERR` control message.

    Args:
        data: the control message data: sock_extended_err and the offender sockaddr.

    Returns:
        The queued error.

    Raises:
        Truncated: fewer than the 16 bytes of sock_extended_err.
    """
    if len(data) < _EXTENDED_ERR.size:
        raise Truncated(f"sock_extended_err needs 16 bytes, got {len(data)}", offset=0)
    ee_errno, origin, ee_type, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(data)
    return QueuedError(
        errno=ee_errno,
        origin=origin,
        type=ee_type,
        code=code,
        info=info,
        offender=_sockaddr_address(data[_EXTENDED_ERR.size :]),
    )


def read_error_queue(sock: socket.socket, *, limit: int) -> list[tuple[QueuedError, int | None]]:
    """Read a socket's error queue without blocking.

    Args:
        sock: a socket with `IP_RECVERR` / `IPV6_RECVERR` set.
        limit: entries read at most (the queue may hold more).

    Returns:
        Each entry with the TTL / hop limit its ICMP error arrived with (None when
        the socket does not ask for it, and for local errors), oldest first; entries
        whose control message does not decode are skipped.
    """
    out: list[tuple[QueuedError, int | None]] = []
    for _ in range(limit):
        try:
            _data, ancdata, _flags, _addr = sock.recvmsg(
                _BUFSIZE, _ANC_SPACE, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
            )
        except OSError:
            break  # empty (EAGAIN), or the socket is gone
        error: QueuedError | None = None
        ttl: int | None = None
        stamp = packet_stamp(ancdata)
        for level, kind, cdata in ancdata:
            if (level, kind) in _ERR_CMSGS:
                try:
                    error = decode_extended_err(cdata)
                except DecodeError:
                    continue
            elif (level, kind) in _TTL_CMSGS and len(cdata) >= 4:
                (ttl,) = struct.unpack("@i", cdata[:4])
        if error is not None:
            if stamp is not None:
                error = QueuedError(
                    errno=error.errno,
                    origin=error.origin,
                    type=error.type,
                    code=error.code,
                    info=error.info,
                    offender=error.offender,
                    stamp=stamp,
                )
            out.append((error, ttl))
    return out


def enable_stamps(sock: socket.socket, *, transmit: bool) -> bool:
    """Ask the kernel for receive timestamps (SO_TIMESTAMPNS) and, with `transmit`, a
    software timestamp of every packet sent, queued on the error queue (SO_TIMESTAMPING
    TX_SOFTWARE, without the packet). A kernel that refuses leaves the socket as it was.

    Returns:
        Whether every requested option was accepted.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if transmit:
            flags = (
                SOF_TIMESTAMPING_TX_SOFTWARE
                | SOF_TIMESTAMPING_SOFTWARE
                | SOF_TIMESTAMPING_OPT_TSONLY
            )
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
    except OSError:
        return False
    return True


def packet_stamp(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel timestamp among a packet's control messages (SCM_TIMESTAMPNS, else the
    software one of SCM_TIMESTAMPING), seconds on the kernel's real-time clock."""
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(cdata) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(cdata)
            return float(sec + nsec / 1e9)
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING and len(cdata) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(cdata)
            if sec or nsec:
                return float(sec + nsec / 1e9)
    return None


def transmit_stamp(entries: list[tuple[QueuedError, int | None]]) -> float | None:
    """The latest transmit timestamp among error-queue `entries` (`read_error_queue`)."""
    stamp: float | None = None
    for error, _ttl in entries:
        if error.origin == SO_EE_ORIGIN_TIMESTAMPING and error.stamp is not None:
            stamp = error.stamp
    return stamp


def local_emsgsize_mtu(entries: list[tuple[QueuedError, int | None]]) -> int | None:
    """The MTU the local kernel gave with its latest EMSGSIZE refusal among `entries`.

    Args:
        entries: what `read_error_queue` returned.

    Returns:
        ee_info of the last local EMSGSIZE entry (the device or route MTU, bytes), or None.
    """
    mtu: int | None = None
    for error, _ttl in entries:
        if error.origin == SO_EE_ORIGIN_LOCAL and error.errno == errno.EMSGSIZE:
            mtu = error.info
    return mtu


def _sockaddr_address(raw: bytes) -> IPAddress | None:
    """The address in a sockaddr_in / sockaddr_in6; None for AF_UNSPEC or short bytes."""
    if len(raw) < 2:
        return None
    (family,) = struct.unpack_from("=H", raw)
    if family == socket.AF_INET and len(raw) >= 8:
        return IPv4Address(raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return IPv6Address(raw[8:24])
    return None


def reply_kind(error: QueuedError) -> ReplyKind | None:
    """What a queued error means for the probe that caused it.

    Args:
        error: the decoded queue entry.

    Returns:
        TOO_BIG (an ICMP too-big, or a local EMSGSIZE), TIME_EXCEEDED,
        PORT_UNREACHABLE, UNREACHABLE, LOCAL_ERROR (any other local refusal), or
        None for ICMP messages that say nothing about the probe (parameter
        problem, source quench, redirect).
    """
    if error.origin == SO_EE_ORIGIN_LOCAL:
        return ReplyKind.TOO_BIG if error.errno == errno.EMSGSIZE else ReplyKind.LOCAL_ERROR
    if error.origin == SO_EE_ORIGIN_ICMP:
        if error.type == _ICMP4_UNREACH:
            if error.code == _ICMP4_FRAG_NEEDED:
                return ReplyKind.TOO_BIG
            if error.code == _ICMP4_PORT_UNREACH:
                return ReplyKind.PORT_UNREACHABLE
            return ReplyKind.UNREACHABLE
        if error.type == _ICMP4_TIME_EXCEEDED:
            return ReplyKind.TIME_EXCEEDED
        return None
    if error.origin == SO_EE_ORIGIN_ICMP6:
        if error.type == _ICMP6_TOO_BIG:
            return ReplyKind.TOO_BIG
        if error.type == _ICMP6_UNREACH:
            if error.code == _ICMP6_PORT_UNREACH:
                return ReplyKind.PORT_UNREACHABLE
            return ReplyKind.UNREACHABLE
        if error.type == _ICMP6_TIME_EXCEEDED:
            return ReplyKind.TIME_EXCEEDED
    return None
