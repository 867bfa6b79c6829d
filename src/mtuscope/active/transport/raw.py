"""Raw-socket transport: sends the packets engines build, hands back the bytes it reads.

Layer: active/transport (an edge): the only place, with udp.py, that sends
and receives probes. It decides nothing and matches nothing: engines build
each packet (`engine.packet`) and match what came back (`engine.on_datagram`).
Needs root or CAP_NET_RAW (checked up front, `RawSocketDenied`).

Sockets (Linux):

- IPv4: one `IPPROTO_RAW` socket sends every probe (IPPROTO_RAW implies
  IP_HDRINCL: we write the IP header, DF bit and TTL included; the kernel
  neither fragments it nor looks at its cached path MTU: a packet above the
  device MTU fails with EMSGSIZE). A raw `IPPROTO_ICMP` socket reads every
  ICMP message arriving (IP header included), and, once a TCP probe was sent,
  a raw `IPPROTO_TCP` socket reads copies of arriving TCP segments.
- IPv6: one raw socket per protocol (ICMPv6, UDP, TCP); the kernel writes the
  IPv6 header. The hop limit rides in an `IPV6_HOPLIMIT` control message per
  probe; `IPV6_DONTFRAG` with `IPV6_MTU_DISCOVER = IPV6_PMTUDISC_PROBE` keeps the
  kernel from fragmenting and from using its cached PMTU. The ICMPv6 socket also
  reads every ICMPv6 message, the TCP socket every TCP segment (the hop limit
  arrives in an `IPV6_HOPLIMIT` control message).

A send that the local kernel refuses becomes a queued local reply: EMSGSIZE is
`Reply(kind=TOO_BIG, from_addr=None, mtu=<device MTU>)` (the MTU from the error
queue's `ee_info`, else the route's MTU); any other refusal (no route, a local
firewall) is `ReplyKind.LOCAL_ERROR`. Building the transport raises
`RawSocketDenied` without the privilege; `source` raises `NoRoute` when no
source address can be found for a destination.

TCP SYN probes: our kernel has no socket for the connection, so it answers the
peer's SYN/ACK with an RST. That is expected and harmless (nmap's SYN scan
works the same way); it leaves no half-open connection at the peer. The
SYN/ACK's TCP options ride on its reply (`Reply.tcp_options`).

One clock: the transport never reads it. `send` gets the driver's `now`,
`receive` the seconds it may wait. Round-trip times come from the kernel's own
timestamps instead: every sending socket has SO_TIMESTAMPING with
TX_SOFTWARE (the stamp is taken as the device driver takes the packet; `send`
reads it back from the error queue and returns it), every reading socket
SO_TIMESTAMPNS (each `Datagram` carries its `stamp`). Both are the kernel's
real-time clock, so their difference is the time on the wire, without this
process's scheduling and Python in it (ping does the same on receive).

Everything the readers get is handed back as a `Datagram` (IPv6: with its
sender and hop limit); packets that belong to no probe of the engine's (other
traffic, duplicates, late replies to forgotten probes) are dropped by the
engine's book, which does not match them.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import sys
from ipaddress import IPv6Address

from mtuscope.active.probe import Datagram, IPAddress, Layer, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.probe_packet import strip_ip_header
from mtuscope.active.transport.errqueue import (
    STAMP_SPACE,
    enable_stamps,
    local_emsgsize_mtu,
    packet_stamp,
    read_error_queue,
    transmit_stamp,
)
from mtuscope.active.transport.linux import (
    IP_MTU_DISCOVER,
    IP_PMTUDISC_PROBE,
    IP_RECVERR,
    IPV6_DONTFRAG,
    IPV6_HOPLIMIT,
    IPV6_MTU_DISCOVER,
    IPV6_PMTUDISC_PROBE,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    has_cap_net_raw,
)
from mtuscope.active.transport.polling import PollingTransport
from mtuscope.active.transport.route import route_mtu, source_for
from mtuscope.errors import RawSocketDenied, UsageError

_BUFSIZE = 65535
_CMSG_SPACE = socket.CMSG_SPACE(4) + STAMP_SPACE
_DRAIN = 64
"""Packets read from one socket per wake-up, so one busy socket cannot starve the loop."""
_PRIVILEGE = (
    "raw sockets need root or CAP_NET_RAW: run as root, grant the capability "
    "(setcap cap_net_raw+ep on the interpreter), or probe over UDP without them "
    "(probe, trace and sweep: --unprivileged)"
)
_LOCAL_REFUSALS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EPERM,
        errno.EACCES,
        errno.ENOBUFS,
        errno.EADDRNOTAVAIL,
        errno.EINVAL,
    }
)


def _open(family: int, proto: int, *, iface: str | None) -> socket.socket:
    """A raw socket, mapping the kernel's refusal to RawSocketDenied."""
    try:
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    except PermissionError as exc:
        raise RawSocketDenied(_PRIVILEGE) from exc
    try:
        sock.setblocking(False)
        if iface is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot bind to interface {iface!r}: {exc.strerror}") from exc
    return sock


class RawTransport(PollingTransport):
    """Sends probe packets of one IP family from raw sockets; reads back `Datagram`s."""

    def __init__(
        self,
        family: int,
        *,
        src: IPAddress | str | None = None,
        iface: str | None = None,
    ) -> None:
        """Open the sockets.

        Args:
            family: 4 or 6.
            src: source address for every probe; None lets the kernel's route
                selection pick one per destination.
            iface: bind every socket to this interface (SO_BINDTODEVICE), or None.

        Raises:
            RawSocketDenied: no root / CAP_NET_RAW, or the kernel refused a raw socket.
            UsageError: bad family, a source of the other family, an unknown interface.
        """
        super().__init__(family, src=src, iface=iface)
        if not sys.platform.startswith("linux"):
            raise RawSocketDenied("raw-socket probing is implemented for Linux only")
        if not has_cap_net_raw():
            raise RawSocketDenied(_PRIVILEGE)
        self._sources: dict[IPAddress, IPAddress] = {}
        self._senders: dict[ProbeKind, socket.socket] = {}
        self._readers: list[socket.socket] = []
        self._tcp_reader: socket.socket | None = None
        self._socks: dict[int, socket.socket] = {}
        """Descriptor -> socket, as of the last `_fds`."""
        try:
            if family == 4:
                send = _open(socket.AF_INET, socket.IPPROTO_RAW, iface=iface)
                send.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
                send.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
                enable_stamps(send, transmit=True)
                for kind in ProbeKind:
                    self._senders[kind] = send
                icmp = _open(socket.AF_INET, socket.IPPROTO_ICMP, iface=iface)
                enable_stamps(icmp, transmit=False)
                self._readers.append(icmp)
            else:
                icmp6 = self._open6(socket.IPPROTO_ICMPV6)
                self._senders[ProbeKind.ECHO] = icmp6
                self._readers.append(icmp6)
        except BaseException:
            self.close()
            raise

    def _open6(self, proto: int) -> socket.socket:
        sock = _open(socket.AF_INET6, proto, iface=self.iface)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DONTFRAG, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            if self.src is not None:
                sock.bind((str(self.src), 0))
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot set up an IPv6 raw socket: {exc.strerror}") from exc
        enable_stamps(sock, transmit=True)
        return sock

    def close(self) -> None:
        """Close every socket (idempotent)."""
        super().close()
        seen: set[int] = set()
        for sock in [*self._senders.values(), *self._readers]:
            if id(sock) not in seen:
                seen.add(id(sock))
                sock.close()
        self._senders.clear()
        self._readers.clear()

    # -- sending ------------------------------------------------------------------------------

    def source(self, dst: IPAddress) -> IPAddress:
        """Our address toward `dst` (the one given, else the kernel's route choice),
        for the packets the engine builds.

        Raises:
            NoRoute: no source address toward `dst`.
        """
        if self.src is not None:
            return self.src
        if dst not in self._sources:
            self._sources[dst] = source_for(dst, iface=self.iface)
        return self._sources[dst]

    def _sender(self, kind: ProbeKind) -> socket.socket:
        """The socket for `kind`; opens the IPv6 UDP/TCP ones and the TCP reader on first use."""
        if kind is ProbeKind.TCP_SYN and self._tcp_reader is None:
            if self.family == 4:
                self._tcp_reader = _open(socket.AF_INET, socket.IPPROTO_TCP, iface=self.iface)
                enable_stamps(self._tcp_reader, transmit=False)
            else:
                self._tcp_reader = self._open6(socket.IPPROTO_TCP)
                self._senders[kind] = self._tcp_reader
            self._readers.append(self._tcp_reader)
        if kind not in self._senders:
            self._senders[kind] = self._open6(socket.IPPROTO_UDP)
        return self._senders[kind]

    def send(self, probe: Probe, packet: bytes | None, now: float) -> float | None:
        """Send one probe's packet now; a local refusal is queued as a reply for `receive`.

        Args:
            probe: what the engine asked for; its family must be this transport's.
            packet: the whole IP packet the engine built for it (`engine.packet`).
            now: the driver's clock, seconds (unused: nothing here is timed).

        Returns:
            The kernel's transmit timestamp of the packet (seconds, its real-time clock),
            or None when there is none (refused, or a kernel without the stamps).

        Raises:
            UsageError: a probe of the other family, no packet, or the transport is closed.
        """
        self._check_open()
        if probe.family != self.family:
            raise UsageError(f"an IPv{probe.family} probe on an IPv{self.family} transport")
        if packet is None:
            raise UsageError("a raw transport sends the packet the engine built; none given")
        sock = self._sender(probe.kind)
        # A pending socket error (an ICMP error the kernel filed on this socket)
        # would fail the next send spuriously; reading SO_ERROR clears it.
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        try:
            if self.family == 4:
                sock.sendto(packet, (str(probe.dst), 0))
            else:
                hops = struct.pack("@i", probe.ttl)
                sock.sendmsg(
                    [strip_ip_header(packet, 6)],
                    [(socket.IPPROTO_IPV6, IPV6_HOPLIMIT, hops)],
                    0,
                    (str(probe.dst), 0, 0, 0),
                )
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                mtu = self._local_mtu(sock) or route_mtu(probe.dst, iface=self.iface)
                kind = ReplyKind.TOO_BIG
            elif exc.errno in _LOCAL_REFUSALS:
                mtu, kind = None, ReplyKind.LOCAL_ERROR
            else:
                raise
            self._pending.append(
                Reply(probe_id=probe.id, kind=kind, from_addr=None, mtu=mtu, rtt=0.0)
            )
            return None
        # The stamp is queued as the device takes the packet: on a veth or a NIC without
        # a queue, before sendto returns. Other entries there are copies of ICMP errors
        # the readers get too (see `_on_event`).
        return transmit_stamp(read_error_queue(sock, limit=_DRAIN))

    def _local_mtu(self, sock: socket.socket) -> int | None:
        """ee_info of the local EMSGSIZE entry the kernel just queued, if it did."""
        return local_emsgsize_mtu(read_error_queue(sock, limit=_DRAIN))

    # -- receiving ----------------------------------------------------------------------------

    def _fds(self) -> list[int]:
        self._socks = {sock.fileno(): sock for sock in [*self._senders.values(), *self._readers]}
        return list(self._socks)

    def _on_event(self, fd: int, mask: int) -> None:
        sock = self._socks[fd]
        if mask & select.POLLERR:
            # Discard error-queue entries (the ICMP messages arrive on the readers too).
            read_error_queue(sock, limit=_DRAIN)
        if mask & select.POLLIN:
            self._read(sock)

    def _read(self, sock: socket.socket) -> None:
        for _ in range(_DRAIN):
            try:
                data, ancdata, _flags, addr = sock.recvmsg(
                    _BUFSIZE, _CMSG_SPACE, socket.MSG_DONTWAIT
                )
            except BlockingIOError:
                return
            except OSError:
                # A socket error filed by an ICMP message (IPV6_RECVERR) surfaces here once.
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return
            datagram = self._datagram(sock, data, ancdata, addr)
            if datagram is not None:
                self._pending.append(datagram)

    def _datagram(
        self,
        sock: socket.socket,
        data: bytes,
        ancdata: list[tuple[int, int, bytes]],
        addr: tuple[str, int] | tuple[str, int, int, int],
    ) -> Datagram | None:
        """What was read, for the engine to match: the bytes and (IPv6) sender and hops."""
        stamp = packet_stamp(ancdata)
        if self.family == 4:
            return Datagram(layer=Layer.IPV4, data=data, stamp=stamp)
        sender: IPAddress = IPv6Address(addr[0].split("%")[0])
        hops: int | None = None
        for level, kind, cdata in ancdata:
            if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(cdata) >= 4:
                (hops,) = struct.unpack("@i", cdata[:4])
        if sock is self._tcp_reader:
            return Datagram(layer=Layer.TCP6, data=data, from_addr=sender, ttl=hops, stamp=stamp)
        if sock is self._senders.get(ProbeKind.ECHO):
            return Datagram(layer=Layer.ICMP6, data=data, from_addr=sender, ttl=hops, stamp=stamp)
        return None  # the IPv6 UDP socket reads copies of arriving UDP: not ours to answer
