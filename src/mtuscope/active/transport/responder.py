"""The two-ended check's sockets: the responder (server) and the client that asks it.

Layer: active/transport (an edge). Opens TCP sockets, an AF_PACKET socket (the
client's capture of its own SYN, root only) and, for the reverse path MTU, a
`RawTransport` or `UdpTransport` driven by `drive`. What the messages mean is
in active/responder_protocol.py; what the differences mean is in diagnose/.

Server (`Responder`): sets Linux `TCP_SAVE_SYN` on its listening socket, so the
kernel keeps each connection's SYN exactly as it arrived (IP and TCP headers,
after every middlebox) and hands it over once with `getsockopt(TCP_SAVED_SYN)`
on the accepted socket. Needs no privilege for that (ports below 1024 need
CAP_NET_BIND_SERVICE as always). Hardening:

- it binds only to the address it is given, and answers only over the
  connection the request came on;
- one request per connection, at most `MAX_REQUEST` bytes, refused at its
  length prefix when larger; every answer is at most `MAX_RESPONSE` bytes;
- a per-connection deadline (a slow sender is cut off), a per-source token
  bucket, and at most `max_clients` connections served at once (more get "busy");
- the reverse path MTU search runs only toward the connecting address, one at a
  time, with a bounded probe budget and wall-clock time.

Client (`check_responder`): an ordinary kernel `connect`. What its own SYN
carried is known two ways:

- with root / CAP_NET_RAW, an AF_PACKET socket opened before the connect
  captures the outgoing SYN and the arriving SYN/ACK: every option, the TTL and
  the initial sequence number (ISN) are then known exactly;
- without it, only the MSS the kernel announced is known (`TCP_INFO`
  `tcpi_advmss`); the ISN the kernel chose is not visible to an unprivileged
  process (only `TCP_REPAIR`, which needs CAP_NET_ADMIN, would show it), so
  ISN and option comparisons need the capture.
"""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.active.engine import Limits
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import IPAddress, ProbeKind
from mtuscope.active.responder_protocol import (
    MAX_REQUEST,
    MAX_RESPONSE,
    Endpoint,
    ErrorCode,
    ErrorResponse,
    FrameBuffer,
    Request,
    Response,
    ReverseMeasurement,
    SourceLimiter,
    SynView,
    TwoEndedObservation,
    decode_request,
    decode_response,
    decode_syn,
    encode_request,
    encode_response,
    frame,
)
from mtuscope.active.transport.driver import Transport, drive
from mtuscope.active.transport.kernel_tcp import read_tcp_info
from mtuscope.active.transport.raw import RawTransport
from mtuscope.active.transport.route import route_mtu
from mtuscope.active.transport.udp import UdpTransport
from mtuscope.errors import DecodeError, Malformed, NoRoute, ProbeError, RawSocketDenied, UsageError

# <linux/tcp.h>
TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
_SAVED_SYN_LEN = 512
# <linux/if_ether.h>, <linux/if_packet.h>
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_SNIFF_PACKETS = 20000
"""Packets the client's capture reads at most (it stops at its SYN and SYN/ACK)."""
_UDP_PROBE_PORT = 33434
"""Destination port of unprivileged reverse probes (traceroute's: normally closed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderLimits:
    """How much the responder does for anyone."""

    deadline: float = 5.0
    """Seconds a connection has to deliver its request; the answer must leave in as long."""
    rate: float = 0.5
    """Requests per second per source address, sustained."""
    burst: int = 5
    """Requests a source may make back to back."""
    max_clients: int = 8
    """Connections served at once; more are answered "busy" and closed."""
    reverse: bool = True
    """Whether the reverse path MTU search may be asked for at all."""
    reverse_seconds: float = 15.0
    """Wall-clock cap of one reverse search."""
    reverse_budget: int = 48
    """Probes one reverse search may send."""

    def __post_init__(self) -> None:
        if not (self.deadline > 0 and self.rate > 0 and self.reverse_seconds > 0):
            raise UsageError("deadline, rate and reverse_seconds must be positive")
        if self.burst < 1 or self.max_clients < 1 or not 1 <= self.reverse_budget <= 64:
            raise UsageError("burst and max_clients at least 1, reverse_budget within 1..64")


Measure = Callable[[IPAddress, "ResponderLimits"], ReverseMeasurement]


def measure_reverse(dst: IPAddress, limits: ResponderLimits) -> ReverseMeasurement:
    """Search the path MTU toward `dst` (the connecting client), bounded by `limits`.

    ICMP echo probes from a `RawTransport` when this process may open raw sockets,
    else UDP probes to port 33434 from a `UdpTransport` (the client's kernel answers
    port-unreachable).

    Args:
        dst: the client's address, as accept() gave it.
        limits: budget and wall-clock cap.

    Returns:
        The measurement; failures are in `error`, never raised.
    """
    # The route's MTU (loopback says 65536: more than an IP packet can be).
    ceiling = min(route_mtu(dst) or 1500, 65535)
    engine_limits = Limits(budget=limits.reverse_budget, timeout=1.0)
    transport: RawTransport | UdpTransport
    try:
        transport = RawTransport(dst.version)
        kind, dport, name = ProbeKind.ECHO, None, "raw"
    except RawSocketDenied:
        transport = UdpTransport(dst.version)
        kind, dport, name = ProbeKind.UDP, _UDP_PROBE_PORT, "udp"
    start = time.monotonic()
    try:
        with transport:
            search = PathMtuSearch(
                dst=dst, ceiling=max(ceiling, 1280 if dst.version == 6 else 68),
                kind=kind, dport=dport, limits=engine_limits,
            )  # fmt: skip
            t: Transport = transport
            run = drive(
                search, t, max_seconds=limits.reverse_seconds, max_probes=limits.reverse_budget
            )
    except (ProbeError, UsageError, OSError) as exc:
        return ReverseMeasurement(
            transport=name, result=None, stop="error", sent=0,
            seconds=time.monotonic() - start, error=str(exc)[:200],
        )  # fmt: skip
    return ReverseMeasurement(
        transport=name, result=run.result, stop=run.stop.value, sent=run.sent, seconds=run.seconds
    )


def _endpoint(sockaddr: tuple[object, ...]) -> Endpoint:
    host = str(sockaddr[0]).split("%")[0]
    port = sockaddr[1]
    assert isinstance(port, int)  # AF_INET/AF_INET6 addresses carry an int port
    return Endpoint(address=ip_address(host), port=port)


def _linger_close(conn: socket.socket, *, seconds: float = 1.0, limit: int = 65536) -> None:
    """Close after the answer has left: stop sending, then read away (bounded) what the
    client still sends, so that unread bytes do not make the kernel reset the
    connection and destroy the answer on its way (RFC 9293 §3.6, RFC 1122 §4.2.2.13)."""
    try:
        conn.shutdown(socket.SHUT_WR)
        end = time.monotonic() + seconds
        drained = 0
        while drained < limit:
            left = end - time.monotonic()
            if left <= 0:
                break
            conn.settimeout(left)
            chunk = conn.recv(4096)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass  # reset, timed out or gone: nothing more to do
    finally:
        conn.close()


def _announced_mss(sock: socket.socket) -> int | None:
    try:
        info = read_tcp_info(sock)
    except (OSError, UsageError):
        return None
    return info.announced_mss or None


class Responder:
    """The far end of the two-ended check: `mtuscope responder`.

    Args:
        bind: the address to listen on (never a wildcard chosen for the user).
        port: the TCP port (0: any free port; see `address`).
        limits: the hardening bounds.
        measure: runs the reverse path MTU search (a parameter for tests).
        log: called with one line per connection, or None.

    Raises:
        UsageError: the address is not local, the port is taken, or is privileged.
        ProbeError: the kernel does not support TCP_SAVE_SYN (Linux 4.2+ only).
    """

    def __init__(
        self,
        bind: IPAddress | str,
        port: int,
        *,
        limits: ResponderLimits | None = None,
        measure: Measure = measure_reverse,
        log: Callable[[str], None] | None = None,
    ) -> None:
        address = ip_address(bind) if isinstance(bind, str) else bind
        if not 0 <= port <= 65535:
            raise UsageError(f"port {port} outside 0..65535")
        self.limits = limits or ResponderLimits()
        self._measure = measure
        self._log = log
        self._limiter = SourceLimiter(self.limits.rate, self.limits.burst)
        self._lock = threading.Lock()
        self._reverse_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.limits.max_clients)
        self._threads: list[threading.Thread] = []
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)
            except OSError as exc:
                raise ProbeError(f"this kernel keeps no SYNs (TCP_SAVE_SYN): {exc}") from exc
            try:
                self._sock.bind((str(address), port))
            except OSError as exc:
                why = exc.strerror or str(exc)
                raise UsageError(f"cannot listen on {address} port {port}: {why}") from exc
            self._sock.listen(16)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise
        self.address = _endpoint(self._sock.getsockname())
        """Where the responder listens (the real port when 0 was asked)."""

    def close(self) -> None:
        """Stop listening and wait (bounded) for connections being served."""
        self._sock.close()
        for thread in self._threads:
            thread.join(self.limits.deadline * 2 + self.limits.reverse_seconds)

    def __enter__(self) -> Responder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve(
        self, *, stop: threading.Event | None = None, max_connections: int | None = None
    ) -> int:
        """Accept and answer connections until `stop` is set or `max_connections` were taken.

        Args:
            stop: set it (from another thread or a signal handler) to return.
            max_connections: return after accepting this many (None: no limit).

        Returns:
            The number of connections accepted.
        """
        accepted = 0
        while (stop is None or not stop.is_set()) and (
            max_connections is None or accepted < max_connections
        ):
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.2)
            except (OSError, ValueError):  # closed under us
                break
            if not ready:
                continue
            try:
                conn, peer = self._sock.accept()
            except BlockingIOError:
                continue
            except OSError:
                break
            accepted += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            if not self._slots.acquire(blocking=False):
                self._refuse(conn, ErrorCode.BUSY, "too many connections: try again later")
                continue
            thread = threading.Thread(target=self._serve_one, args=(conn, peer), daemon=True)
            self._threads.append(thread)
            thread.start()
        return accepted

    def _serve_one(self, conn: socket.socket, peer: tuple[object, ...]) -> None:
        try:
            answer = self.handle(conn, _endpoint(peer))
            if self._log is not None:
                self._log(f"{peer[0]} port {peer[1]}: {answer}")
        finally:
            _linger_close(conn)
            self._slots.release()

    def _refuse(self, conn: socket.socket, code: ErrorCode, message: str) -> None:
        try:
            self._send(conn, ErrorResponse(code=code, message=message), time.monotonic() + 1.0)
        finally:
            _linger_close(conn, seconds=0.2)

    def _send(self, conn: socket.socket, answer: Response | ErrorResponse, until: float) -> None:
        try:
            body = encode_response(answer)
        except UsageError:  # above MAX_RESPONSE: the budget should make this impossible
            body = encode_response(ErrorResponse(code=ErrorCode.UNAVAILABLE, message="too large"))
        try:
            conn.settimeout(max(0.05, until - time.monotonic()))
            conn.sendall(frame(body))
        except OSError:
            pass  # the client went away: nothing to tell it

    def handle(self, conn: socket.socket, peer: Endpoint) -> str:
        """Answer the one request on an accepted connection (the caller closes it).

        Args:
            conn: the accepted socket.
            peer: the client's address and port as accept() gave them.

        Returns:
            What was answered, one word: "ok" or an `ErrorCode` value.
        """
        until = time.monotonic() + self.limits.deadline
        with self._lock:
            allowed = self._limiter.take(peer.address, time.monotonic())
        # The saved SYN is handed out once; read it before anything can fail.
        try:
            syn = conn.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, _SAVED_SYN_LEN)
        except OSError:
            syn = b""
        answer: Response | ErrorResponse
        if not allowed:
            answer = ErrorResponse(code=ErrorCode.RATE_LIMITED, message="too many requests")
        else:
            answer = self._answer(conn, peer, syn, until)
        self._send(conn, answer, until + 1.0)
        return "ok" if isinstance(answer, Response) else answer.code.value

    def _answer(
        self, conn: socket.socket, peer: Endpoint, syn: bytes, until: float
    ) -> Response | ErrorResponse:
        try:
            request = decode_request(self._receive(conn, until))
        except TimeoutError:
            return ErrorResponse(code=ErrorCode.TIMEOUT, message="no complete request in time")
        except Malformed as exc:
            code = ErrorCode.TOO_LARGE if exc.offset == 0 else ErrorCode.BAD_REQUEST
            return ErrorResponse(code=code, message=str(exc))
        except DecodeError as exc:
            return ErrorResponse(code=ErrorCode.BAD_REQUEST, message=str(exc))
        if not syn:
            return ErrorResponse(code=ErrorCode.UNAVAILABLE, message="the kernel kept no SYN")
        try:
            decode_syn(syn)
        except DecodeError as exc:
            return ErrorResponse(code=ErrorCode.UNAVAILABLE, message=f"saved SYN: {exc}")
        reverse = self._reverse(peer) if request.reverse_pmtu else None
        return Response(
            peer=peer,
            local=_endpoint(conn.getsockname()),
            saved_syn=syn,
            server_mss=_announced_mss(conn),
            reverse=reverse,
        )

    def _reverse(self, peer: Endpoint) -> ReverseMeasurement:
        def refused(why: str) -> ReverseMeasurement:
            return ReverseMeasurement(
                transport="none", result=None, stop="error", sent=0, seconds=0.0, error=why
            )

        if not self.limits.reverse:
            return refused("this responder does not measure the reverse path MTU")
        if not self._reverse_lock.acquire(timeout=self.limits.deadline):
            return refused("another reverse measurement is running: try again later")
        try:
            # Toward the connecting address only: the request cannot name another.
            return self._measure(peer.address, self.limits)
        finally:
            self._reverse_lock.release()

    def _receive(self, conn: socket.socket, until: float) -> bytes:
        """The request body, or TimeoutError at `until` (slow senders are cut off)."""
        buffer = FrameBuffer(MAX_REQUEST)
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise TimeoutError
            conn.settimeout(left)
            try:
                data = conn.recv(min(buffer.wanted(), MAX_REQUEST))
            except TimeoutError:
                raise
            except OSError as exc:
                raise Malformed(f"connection failed: {exc.strerror}") from exc
            if not data:
                raise Malformed("the client closed before a whole request")
            body = buffer.feed(data)
            if body is not None:
                return body


# -- client -------------------------------------------------------------------


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
                data, addr = self.sock.recvfrom(65535)
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
            ours = (view.src, view.dst) == (local, target)
            theirs = (view.src, view.dst) == (target, local)
            if ours and syn is None and not view.flags & 0x10 and addr[2] == _PACKET_OUTGOING:
                syn = view
            elif theirs and synack is None and view.flags & 0x10 and addr[2] != _PACKET_OUTGOING:
                synack = view
        return syn, synack

    def close(self) -> None:
        self.sock.close()


def _read_frame(sock: socket.socket, until: float) -> bytes:
    buffer = FrameBuffer(MAX_RESPONSE)
    while True:
        left = until - time.monotonic()
        if left <= 0:
            raise ProbeError("the responder did not answer in time")
        sock.settimeout(left)
        try:
            data = sock.recv(min(buffer.wanted(), 65536))
        except TimeoutError as exc:
            raise ProbeError("the responder did not answer in time") from exc
        except OSError as exc:
            raise ProbeError(f"the responder's connection failed: {exc.strerror}") from exc
        if not data:
            raise ProbeError("the responder closed the connection without an answer")
        body = buffer.feed(data)
        if body is not None:
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
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((str(address), port))
            except OSError as exc:
                if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                    raise NoRoute(f"no route to {address}: {exc.strerror}") from exc
                why = exc.strerror or "timed out"
                raise ProbeError(
                    f"cannot connect to the responder {address} port {port}: {why}"
                ) from exc
            local = _endpoint(sock.getsockname())
            announced = _announced_mss(sock)
            try:
                sock.sendall(frame(encode_request(Request(reverse_pmtu=reverse_pmtu))))
            except OSError as exc:
                raise ProbeError(f"cannot send to the responder: {exc.strerror}") from exc
            sent = synack = None
            if sniffer is not None:
                sent, synack = sniffer.handshake(local, target, time.monotonic() + 0.5)
            wait = timeout + (reverse_wait if reverse_pmtu else 0.0)
            answer = decode_response(_read_frame(sock, time.monotonic() + wait))
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
