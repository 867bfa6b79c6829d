"""The far end of the two-ended check: `mtuscope responder`, a TCP server that keeps SYNs.

Layer: active/transport (an edge). Opens a listening TCP socket and one thread
per connection served; the reverse path MTU search is in reverse_pmtu.py, the
client in responder_client.py, what the messages mean in
active/responder_protocol.py, what the differences mean in diagnose/.

`Responder` sets Linux `TCP_SAVE_SYN` on its listening socket, so the
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
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.active.probe import IPAddress
from mtuscope.active.responder_protocol import (
    MAX_REQUEST,
    MAX_REVERSE_PROBES,
    ErrorCode,
    ErrorResponse,
    Response,
    ReverseMeasurement,
    SourceLimiter,
    decode_request,
    encode_response,
    frame,
)
from mtuscope.active.syn_view import Endpoint, decode_syn
from mtuscope.active.transport.exchange import announced_mss, endpoint_of, read_frame
from mtuscope.active.transport.reverse_pmtu import Measure, measure_reverse
from mtuscope.errors import DecodeError, Malformed, ProbeError, UsageError

# <linux/tcp.h>
TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
_SAVED_SYN_LEN = 512


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
        if (
            self.burst < 1
            or self.max_clients < 1
            or not 1 <= self.reverse_budget <= MAX_REVERSE_PROBES
        ):
            raise UsageError(
                "burst and max_clients at least 1, "
                f"reverse_budget within 1..{MAX_REVERSE_PROBES} (what a response may carry)"
            )


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
        self.address = endpoint_of(self._sock.getsockname())
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
            answer = self.handle(conn, endpoint_of(peer))
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
            local=endpoint_of(conn.getsockname()),
            saved_syn=syn,
            server_mss=announced_mss(conn),
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
        try:
            body = read_frame(conn, until, MAX_REQUEST)
        except TimeoutError:
            raise
        except OSError as exc:
            raise Malformed(f"connection failed: {exc.strerror}") from exc
        if body is None:
            raise Malformed("the client closed before a whole request")
        return body
