"""Unprivileged transport: UDP probes, with replies read from the kernel's error queue.

Layer: active/transport (an edge). Needs no privilege (tracepath works the same
way); only `ProbeKind.UDP` probes can be sent.

Every probe gets its own UDP socket, `connect`ed to the probe's destination and
port, so it leaves from its own source port and the kernel files any ICMP error
quoting it on that socket alone: that is how a reply maps back to its probe,
with no guessing by order. Each socket has

- `IP_MTU_DISCOVER = IP_PMTUDISC_PROBE` (IPv6: `IPV6_MTU_DISCOVER =
  IPV6_PMTUDISC_PROBE` and `IPV6_DONTFRAG`): DF set, the kernel's cached path
  MTU ignored, a datagram above the device MTU refused with EMSGSIZE;
- `IP_TTL` / `IPV6_UNICAST_HOPS` = the probe's TTL;
- `IP_RECVERR` / `IPV6_RECVERR`: ICMP errors land on the error queue, read
  with `recvmsg(MSG_ERRQUEUE)`; `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` add the
  error's own TTL.

An error-queue entry (errqueue.py) gives the ICMP type and code, the offender's
address and, for too-big, the MTU in `ee_info`. EMSGSIZE from `send` itself is
`Reply(kind=TOO_BIG, from_addr=None, mtu=<the local MTU>)`, the MTU taken from
the local error's `ee_info`, else from `IP_MTU` / `IPV6_MTU`. Data coming back
on the socket is a `UDP_RESPONSE`. A socket is closed at its first reply, when
`max_inflight` newer probes are out, or `keep` seconds after it was sent.

Round-trip times come from the kernel: each probe socket has SO_TIMESTAMPING
TX_SOFTWARE (the send stamp, read back from the error queue right after `send`)
and SO_TIMESTAMPNS (the stamp of the ICMP error or of the answer); a reply's
`rtt` is their difference, both on the kernel's real-time clock.

The probe's payload starts with its id (4 bytes, big-endian; fewer if the
payload is shorter) and is zero after that.
"""

from __future__ import annotations

import errno
import select
import socket
from collections import OrderedDict
from dataclasses import dataclass

from mtuscope.active.probe import IPAddress, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.transport.errqueue import (
    STAMP_SPACE,
    QueuedError,
    enable_stamps,
    local_emsgsize_mtu,
    packet_stamp,
    read_error_queue,
    reply_kind,
    transmit_stamp,
)
from mtuscope.active.transport.linux import (
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_PROBE,
    IP_RECVERR,
    IP_RECVTTL,
    IPV6_DONTFRAG,
    IPV6_MTU,
    IPV6_MTU_DISCOVER,
    IPV6_PMTUDISC_PROBE,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_UNICAST_HOPS,
)
from mtuscope.active.transport.polling import PollingTransport
from mtuscope.active.transport.route import raise_if_no_route
from mtuscope.errors import UsageError

_BUFSIZE = 65535
_DRAIN = 16
"""Error-queue entries read from one socket per wake-up."""
_LOCAL_REFUSALS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EPERM, errno.EACCES, errno.ENOBUFS}
)


@dataclass(frozen=True, slots=True)
class _InFlight:
    sock: socket.socket
    probe: Probe
    sent_at: float
    stamp: float | None = None
    """The kernel's transmit timestamp, if it gave one."""


class UdpTransport(PollingTransport):
    """Sends UDP probes from ordinary sockets; needs no privilege."""

    def __init__(
        self,
        family: int,
        *,
        src: IPAddress | str | None = None,
        iface: str | None = None,
        max_inflight: int = 256,
        keep: float = 30.0,
    ) -> None:
        """Set the transport up (sockets are opened per probe).

        Args:
            family: 4 or 6.
            src: source address to bind every probe socket to, or None for the kernel's choice.
            iface: interface to bind to (SO_BINDTODEVICE; unprivileged since Linux 5.7), or None.
            max_inflight: probe sockets kept open at once; the oldest is closed beyond it.
            keep: seconds a probe's socket waits for its reply at most.

        Raises:
            UsageError: bad family, a source of the other family, or bad limits.
        """
        super().__init__(family, src=src, iface=iface)
        if max_inflight < 1 or not keep > 0:
            raise UsageError("max_inflight must be at least 1 and keep positive")
        self._max = max_inflight
        self._keep = keep
        self._inflight: OrderedDict[int, _InFlight] = OrderedDict()

    def close(self) -> None:
        """Close every probe socket (idempotent)."""
        super().close()
        for entry in self._inflight.values():
            entry.sock.close()
        self._inflight.clear()

    # -- sending ------------------------------------------------------------------------------

    def _socket(self, probe: Probe) -> socket.socket:
        v4 = self.family == 4
        sock = socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if self.iface is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.iface.encode())
            if v4:
                # A probe with df=False may be fragmented on the way (IP_PMTUDISC_DONT).
                discover = IP_PMTUDISC_PROBE if probe.df else IP_PMTUDISC_DONT
                sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, discover)
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, probe.ttl)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DONTFRAG, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS, probe.ttl)
            if self.src is not None:
                sock.bind((str(self.src), 0))
            enable_stamps(sock, transmit=True)
            sock.connect((str(probe.dst), probe.dport))
        except OSError as exc:
            sock.close()
            raise_if_no_route(exc, probe.dst)
            raise UsageError(f"cannot set up a UDP probe socket: {exc.strerror}") from exc
        return sock

    def source(self, dst: IPAddress) -> None:
        """None: the kernel builds the packets (and the engine needs to build none)."""
        return None

    def send(self, probe: Probe, packet: bytes | None, now: float) -> float | None:
        """Send one UDP probe now; a local refusal is queued as a reply for `receive`.

        Args:
            probe: a `ProbeKind.UDP` probe of this transport's family.
            packet: ignored (the kernel builds the datagram; `source` says so).
            now: the driver's clock, seconds (sockets older than `keep` are closed).

        Returns:
            The kernel's transmit timestamp (this transport times its replies itself).

        Raises:
            UsageError: another probe kind or family, or the transport is closed.
            NoRoute: the kernel has no route to the probe's destination.
        """
        self._check_open()
        if probe.kind is not ProbeKind.UDP or probe.family != self.family:
            raise UsageError(
                f"the unprivileged UDP mode sends IPv{self.family} UDP probes, "
                f"not IPv{probe.family} {probe.kind.value}"
            )
        self._expire(now)
        sock = self._socket(probe)
        payload = probe.id.to_bytes(8, "big")[-4:][: probe.payload_size]
        payload += bytes(probe.payload_size - len(payload))
        try:
            sock.send(payload)
        except OSError as exc:
            try:
                if exc.errno == errno.EMSGSIZE:
                    self._pending.append(
                        Reply(
                            probe_id=probe.id,
                            kind=ReplyKind.TOO_BIG,
                            from_addr=None,
                            mtu=self._local_mtu(sock),
                            rtt=0.0,
                        )
                    )
                elif exc.errno in _LOCAL_REFUSALS:
                    self._pending.append(
                        Reply(probe_id=probe.id, kind=ReplyKind.LOCAL_ERROR, from_addr=None)
                    )
                else:
                    raise
            finally:
                sock.close()
            return None
        # On a fast path the answer may be queued already, behind the transmit stamp.
        entries = read_error_queue(sock, limit=_DRAIN)
        fd = sock.fileno()
        stamp = transmit_stamp(entries)
        self._inflight[fd] = _InFlight(sock, probe, now, stamp)
        self._errors(fd, entries)
        while len(self._inflight) > self._max:
            self._drop(next(iter(self._inflight)))
        return stamp

    def _local_mtu(self, sock: socket.socket) -> int | None:
        """The MTU behind an EMSGSIZE: the local error's ee_info, else IP_MTU / IPV6_MTU."""
        mtu = local_emsgsize_mtu(read_error_queue(sock, limit=_DRAIN))
        if mtu is not None:
            return mtu
        v4 = self.family == 4
        try:
            return sock.getsockopt(
                socket.IPPROTO_IP if v4 else socket.IPPROTO_IPV6, IP_MTU if v4 else IPV6_MTU
            )
        except OSError:
            return None

    def _drop(self, fd: int) -> None:
        entry = self._inflight.pop(fd, None)
        if entry is not None:
            entry.sock.close()

    def _expire(self, now: float) -> None:
        for fd in [fd for fd, e in self._inflight.items() if now - e.sent_at > self._keep]:
            self._drop(fd)

    # -- receiving ----------------------------------------------------------------------------

    def _fds(self) -> list[int]:
        # None in flight: poll waits out the timeout, as a socket would.
        return list(self._inflight)

    def _on_event(self, fd: int, mask: int) -> None:
        entry = self._inflight.get(fd)
        if entry is None:
            return
        if mask & select.POLLERR:
            if self._errors(fd, read_error_queue(entry.sock, limit=_DRAIN)):
                return
        if mask & select.POLLIN:
            try:
                _data, ancdata, _flags, _addr = entry.sock.recvmsg(_BUFSIZE, STAMP_SPACE)
            except OSError:
                return  # an error filed on the socket: its queue entry comes with POLLERR
            self._answer(
                fd, ReplyKind.UDP_RESPONSE, from_addr=entry.probe.dst, stamp=packet_stamp(ancdata)
            )

    def _errors(self, fd: int, entries: list[tuple[QueuedError, int | None]]) -> bool:
        """Answer the probe on `fd` with the first error-queue entry that says something
        about it; True when one did."""
        entry = self._inflight.get(fd)
        if entry is None:
            return False
        for error, ttl in entries:
            kind = reply_kind(error)
            if kind is None:
                continue
            if kind is ReplyKind.PORT_UNREACHABLE and error.offender != entry.probe.dst:
                kind = ReplyKind.UNREACHABLE  # a box on the way, not the destination
            unreach = kind in (ReplyKind.UNREACHABLE, ReplyKind.PORT_UNREACHABLE)
            self._answer(
                fd,
                kind,
                from_addr=error.offender,
                mtu=error.info if kind is ReplyKind.TOO_BIG else None,
                ttl=ttl,
                code=error.code if unreach else None,
                stamp=error.stamp,
            )
            return True
        return False

    def _answer(
        self,
        fd: int,
        kind: ReplyKind,
        *,
        from_addr: IPAddress | None,
        mtu: int | None = None,
        ttl: int | None = None,
        code: int | None = None,
        stamp: float | None = None,
    ) -> None:
        """Queue the one reply a probe socket gets (timed by the kernel's stamps when
        both are there), and close the socket."""
        entry = self._inflight[fd]
        rtt = None if stamp is None or entry.stamp is None else max(0.0, stamp - entry.stamp)
        self._pending.append(
            Reply(
                probe_id=entry.probe.id,
                kind=kind,
                from_addr=from_addr,
                mtu=mtu,
                ttl=ttl,
                code=code,
                rtt=rtt,
            )
        )
        self._drop(fd)
