"""The near end of the two-ended check: connect to a responder, ask what SYN arrived.

Layer: active/transport (an edge). Opens one TCP connection and, with root /
CAP_NET_RAW, an AF_PACKET socket. What its own SYN carried is known two ways:

- with root / CAP_NET_RAW, an AF_PACKET socket opened before the connect
  captures the outgoing SYN and the arriving SYN/ACK: every option, the TTL and
  the initial sequence number (ISN) are then known exactly;
- without it, only the MSS the kernel announced is known (`TCP_INFO`
  `tcpi_advmss`); the ISN the kernel chose is not visible to an unprivileged
  process (only `TCP_REPAIR`, which needs CAP_NET_ADMIN, would show it), so
  ISN and option comparisons need the capture.
"""

from __future__ import annotations

import select
import socket
import time
from ipaddress import ip_address

from mtuscope.active.probe import IPAddress
from mtuscope.active.responder_protocol import (
    MAX_RESPONSE,
    ErrorResponse,
    Request,
    decode_response,
    encode_request,
    frame,
)
from mtuscope.active.syn_view import Endpoint, SynView, TwoEndedObservation, decode_syn
from mtuscope.active.transport.exchange import announced_mss, endpoint_of, read_frame
from mtuscope.active.transport.kernel_tcp import connect_tcp
from mtuscope.errors import DecodeError, PortClosed, ProbeError, RawSocketDenied, UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET
from mtuscope.wire.tcp import TcpFlags

# <linux/if_ether.h>, <linux/if_packet.h>
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_SNIFF_PACKETS = 20000
"""Packets the client's capture reads at most (it stops at its SYN and SYN/ACK)."""


class _Sniffer:
    """An AF_PACKET socket that sees this host's own packets (root / CAP_NET_RAW)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_ALL))
        self.sock.setblocking(False)

    def handshake(
        self, local: Endpoint, target: Endpoint, until: float
    ) -> tuple[SynView | None, SynView | None]:
        """Our SYN to `target` and its SYN/ACK, from the packets queued so far."""
        syn: SynView | None = None
        synack: SynView | None = None
        for _ in range(_SNIFF_PACKETS):
            if syn is not None and synack is not None:
                break
            try:
                data, addr = self.sock.recvfrom(MAX_IP_PACKET)
            except BlockingIOError:
                if time.monotonic() >= until:
                    break
                select.select([self.sock], [], [], max(0.0, until - time.monotonic()))
                continue
            if not data or data[0] >> 4 not in (4, 6):
                continue
            try:
                view = decode_syn(data)
            except DecodeError:
                continue
            outgoing = addr[2] == _PACKET_OUTGOING
            ack = bool(view.flags & TcpFlags.ACK)
            if (view.src, view.dst) == (local, target) and syn is None and outgoing and not ack:
                syn = view
            elif (view.src, view.dst) == (target, local) and not outgoing and ack and not synack:
                synack = view
        return syn, synack

    def close(self) -> None:
        self.sock.close()


def _answer(sock: socket.socket, until: float) -> bytes:
    try:
        body = read_frame(sock, until, MAX_RESPONSE)
    except TimeoutError as exc:
        raise ProbeError("the responder did not answer in time") from exc
    except OSError as exc:
        raise ProbeError(f"the responder's connection failed: {exc.strerror}") from exc
    if body is None:
        raise ProbeError("the responder closed the connection without an answer")
    return body


def check_responder(
    host: IPAddress | str,
    port: int,
    *,
    reverse_pmtu: bool = False,
    timeout: float = 5.0,
    reverse_wait: float = 30.0,
    capture: bool | None = None,
) -> TwoEndedObservation:
    """Connect to a responder, ask what SYN arrived, and capture what was sent.

    Args:
        host: the responder's address.
        port: its TCP port.
        reverse_pmtu: also ask it to measure the path MTU back toward us.
        timeout: seconds for the handshake and for an answer without a reverse search.
        reverse_wait: extra seconds to wait when a reverse search was asked for.
        capture: capture our own SYN (needs root): True requires it, False skips
            it, None uses it when the kernel allows.

    Returns:
        Both ends' views of the connection.

    Raises:
        UsageError: a bad address or port.
        NoRoute: no route to the responder.
        PortClosed: the responder's port answered with a reset (nothing listens).
        RawSocketDenied: `capture=True` without the privilege.
        ProbeError: the handshake failed, the responder refused (its error code is
            in the message) or did not answer in time.
        DecodeError: the responder's answer does not decode.
    """
    address = ip_address(host) if isinstance(host, str) else host
    if not 1 <= port <= 65535 or not timeout > 0:
        raise UsageError("need a port within 1..65535 and a positive timeout")
    target = Endpoint(address=address, port=port)
    sniffer: _Sniffer | None = None
    if capture is not False:
        try:
            sniffer = _Sniffer()
        except (PermissionError, AttributeError, OSError) as exc:
            if capture:
                raise RawSocketDenied("capturing our own SYN needs root or CAP_NET_RAW") from exc
    start = time.monotonic()
    failed = f"cannot connect to the responder {address} port {port}"
    try:
        try:
            sock = connect_tcp(address, port, timeout, failed=failed)
        except ProbeError as exc:
            if isinstance(exc.__cause__, ConnectionRefusedError):
                raise PortClosed(
                    f"nothing listens on {address} port {port} (connection refused): is "
                    "`mtuscope responder` running there, on that port?"
                ) from exc
            raise
        with sock:
            local = endpoint_of(sock.getsockname())
            announced = announced_mss(sock)
            try:
                sock.sendall(frame(encode_request(Request(reverse_pmtu=reverse_pmtu))))
            except OSError as exc:
                raise ProbeError(f"cannot send to the responder: {exc.strerror}") from exc
            sent = synack = None
            if sniffer is not None:
                sent, synack = sniffer.handshake(local, target, time.monotonic() + 0.5)
            wait = timeout + (reverse_wait if reverse_pmtu else 0.0)
            answer = decode_response(_answer(sock, time.monotonic() + wait))
    finally:
        if sniffer is not None:
            sniffer.close()
    if isinstance(answer, ErrorResponse):
        raise ProbeError(f"the responder refused: {answer.code.value}: {answer.message}")
    return TwoEndedObservation(
        target=target,
        local=local,
        announced_mss=announced,
        sent=sent,
        seen=decode_syn(answer.saved_syn),
        server_peer=answer.peer,
        server_local=answer.local,
        server_mss=answer.server_mss,
        synack_seen=synack,
        reverse=answer.reverse,
        seconds=time.monotonic() - start,
    )
