"""`LoopbackRelay`: 127.0.0.1:PORT inside a lab namespace reaches a port of this host.

A small echo server on this host's loopback; a client run inside the `clean`
lab's client namespace (`Lab.exec`) talks to the relay's port there. Checked:
bytes go both ways unchanged, a connection beyond `max_connections` is closed
at once while the first one stays open, a port nobody listens on behind the
relay closes the client's connection, and after `stop()` the port inside the
namespace is free again.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from mtuscope.errors import LabError
from mtuscope.lab import Lab
from mtuscope.lab.relay import LoopbackRelay

pytestmark = pytest.mark.raw_socket

PORT = 18099
"""The relay's port inside the namespace (the namespace is ours: nothing else listens)."""

CLIENT = textwrap.dedent(
    """
    import json, socket, sys
    port, n = int(sys.argv[1]), int(sys.argv[2])
    out = {}
    first = socket.create_connection(("127.0.0.1", port), timeout=5)
    payload = bytes(range(256)) * n
    first.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = first.recv(65536)
        if not chunk:
            break
        got += chunk
    out["echoed"] = got == payload
    second = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        out["second"] = len(second.recv(10))
    except OSError as exc:
        out["second"] = type(exc).__name__
    first.sendall(b"still open")
    out["first_after"] = first.recv(100).decode()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("the relay needs Linux network namespaces and root")
    with Lab.up("clean") as lab:
        yield lab


@pytest.fixture
def echo() -> Iterator[int]:
    """An echo server on this host's 127.0.0.1; its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def test_bytes_go_both_ways_and_connections_are_bounded(lab: Lab, echo: int) -> None:
    ns = lab.namespace("client")
    with LoopbackRelay(ns, PORT, to=("127.0.0.1", echo), max_connections=1).start() as relay:
        r = lab.exec("client", [sys.executable, "-c", CLIENT, str(PORT), "4000"], timeout=30)
        out = json.loads(r.stdout)
        assert out == {"echoed": True, "second": 0, "first_after": "still open"}
        assert relay.relayed == 1 and relay.refused == 1
    # Stopped: the port inside the namespace is free (a new relay can listen there).
    with LoopbackRelay(ns, PORT, to=("127.0.0.1", echo)).start():
        pass


def test_nothing_behind_the_relay_closes_the_client(lab: Lab) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: connections are refused
        probe = (
            f"import socket; c = socket.create_connection(('127.0.0.1', {PORT}), timeout=5); "
            "print(len(c.recv(10)))"
        )
        with LoopbackRelay(lab.namespace("client"), PORT, to=("127.0.0.1", closed)).start() as r:
            out = lab.exec("client", [sys.executable, "-c", probe], timeout=30).stdout
            assert out.strip() == "0" and r.refused == 1


def test_an_unknown_namespace_is_a_lab_error() -> None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("needs Linux and root")
    with pytest.raises(LabError, match="mtus-nosuch-client"):
        LoopbackRelay("mtus-nosuch-client", PORT, to=("127.0.0.1", 9)).start()
