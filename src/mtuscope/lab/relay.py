"""A TCP relay from a loopback port inside a lab namespace to a port of this host.

Layer: lab (an edge). A lab node's namespace has a loopback of its own, so a
process there cannot reach a server listening on this host's 127.0.0.1. The
relay bridges exactly that, without configuring anything outside the lab: one
thread joins the node's namespace (setns(2) on /run/netns/NAME, as `ip netns
exec` does), opens a listening socket on 127.0.0.1:PORT there and leaves; a
socket keeps the namespace it was made in. Every connection accepted on it is
paired with a new connection made from this host's namespace to the one
address and port the relay was given, and bytes are copied both ways.

Bounded: at most `max_connections` pairs at once (beyond, a connection is
closed at once), and `stop()` (or leaving the `with` block) closes every
socket and joins every thread. It forwards to one address only; it sends
nothing of its own.

    with LoopbackRelay("mtus-ab12cd-client", 8077, to=("127.0.0.1", 8077)):
        ...  # in the client namespace, http://127.0.0.1:8077 is this host's server
"""

from __future__ import annotations

import ctypes
import os
import selectors
import socket
import threading
from concurrent.futures import Future

from mtuscope.errors import LabError
from mtuscope.lab.teardown import TornDownOnExit

CLONE_NEWNET = 0x40000000
"""setns(2): the file descriptor names a network namespace."""
MAX_CONNECTIONS = 64
"""Relayed connections at once, by default."""
_CHUNK = 65536
_POLL_SECONDS = 0.5
"""How often the relay's threads look whether they should stop."""


def _listen_inside(namespace: str, port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` in `namespace`, made by a thread of its own.

    Raises:
        LabError: the namespace cannot be joined, or the port is taken there.
    """
    made: Future[socket.socket] = Future()

    def join_and_listen() -> None:
        # This thread ends here: nothing else ever runs in the namespace it joined.
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
                sock.listen(16)
                sock.settimeout(_POLL_SECONDS)
            except OSError:
                sock.close()
                raise
            made.set_result(sock)
        except OSError as exc:
            made.set_exception(exc)

    thread = threading.Thread(target=join_and_listen, name=f"relay-setns-{namespace}")
    thread.start()
    thread.join(timeout=10)
    try:
        return made.result(timeout=0)
    except OSError as exc:
        raise LabError(f"relay in {namespace} on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise LabError(f"relay in {namespace}: the namespace could not be joined") from exc


class LoopbackRelay(TornDownOnExit):
    """127.0.0.1:`port` inside `namespace`, relayed to `to` (host, port) of this host."""

    def __init__(
        self,
        namespace: str,
        port: int,
        *,
        to: tuple[str, int],
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        """Record (not start) a relay; `start()` listens.

        Args:
            namespace: a lab namespace (`Lab.namespace(node)`).
            port: the TCP port to listen on, on 127.0.0.1 inside it.
            to: the address and port in this host's namespace to connect each client to.
            max_connections: relayed connections at once; more are closed at once.
        """
        self.namespace = namespace
        self.port = port
        self.to = to
        self.max_connections = max_connections
        self.relayed = 0
        """Connections relayed so far."""
        self.refused = 0
        """Connections closed at once: over `max_connections`, or `to` did not answer."""
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pairs = 0

    def start(self) -> LoopbackRelay:
        """Listen inside the namespace and start relaying.

        Returns:
            The relay itself, to use in a `with` block.

        Raises:
            LabError: the namespace cannot be joined, or the port is taken there.
        """
        self._listener = _listen_inside(self.namespace, self.port)
        accept = threading.Thread(
            target=self._accept, name=f"relay-{self.namespace}-{self.port}", daemon=True
        )
        self._threads.append(accept)
        accept.start()
        return self

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                inside, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            with self._lock:
                full = self._pairs >= self.max_connections
                if not full:
                    self._pairs += 1
            if full:
                self.refused += 1
                inside.close()
                continue
            try:
                outside = socket.create_connection(self.to, timeout=5.0)
            except OSError:
                self.refused += 1
                inside.close()
                with self._lock:
                    self._pairs -= 1
                continue
            self.relayed += 1
            pump = threading.Thread(target=self._pump, args=(inside, outside), daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(pump)
            pump.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Copy bytes both ways until either side closes or the relay stops."""
        try:
            with a, b, selectors.DefaultSelector() as sel:
                a.setblocking(True)
                b.setblocking(True)
                sel.register(a, selectors.EVENT_READ, b)
                sel.register(b, selectors.EVENT_READ, a)
                while not self._stop.is_set():
                    for key, _ in sel.select(timeout=_POLL_SECONDS):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]  # registered sockets
                        sink: socket.socket = key.data
                        data = source.recv(_CHUNK)
                        if not data:
                            return
                        sink.sendall(data)
        except OSError:
            pass  # a reset on either side ends the pair
        finally:
            with self._lock:
                self._pairs -= 1

    def stop(self) -> None:
        """Close the listener and every relayed connection; join the threads. Idempotent."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]

    def _teardown(self) -> None:
        self.stop()
