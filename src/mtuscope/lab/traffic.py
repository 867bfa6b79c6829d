"""Tiny TCP servers and a client for lab traffic, run as a script inside a namespace.

Layer: lab (an edge). The file imports only the standard library so that it
runs as ``python3 traffic.py serve|fetch|http ...`` under ``ip netns exec`` without
mtuscope being installed. The server sends a fixed number of bytes to one
client and closes; the client reads until the end or its deadline. Both are
bounded in bytes and in time, and talk only to the addresses they are given
(lab addresses). `server_argv` and `client_argv` build the command lines.

Each side prints one JSON line on stdout: the server ``{"listening": port}``
once it listens, then ``{"sent": n, "seconds": t}``; the client
``{"received": n, "seconds": t, "complete": bool}``.

The lab's own listener (`listener_argv`, mode ``http``) is a small HTTP/1.1
server on `LISTENER_PORT` of every address (IPv4 and IPv6) that `Lab.up(...,
listen=True)` and `mtuscope lab up` start on the server node: any GET gets
`LISTENER_BYTES` bytes (enough for full-size segments on every lab path), so
that `mtuscope probe --port 8080 --download N` has a server that answers. It
detaches once it listens (prints ``{"listening": port, "pid": pid}`` and leaves
a child in its own session, no terminal), serves at most `LISTENER_CONNECTIONS`
connections, each bounded by `LISTENER_CONNECTION_SECONDS`, for at most
``--seconds``, and dies with the lab's namespace (`lab down`, teardown).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_BYTES = 16 * 1024 * 1024
"""The most a server will send: lab traffic stays small."""
MAX_SECONDS = 60.0
"""The longest either side runs."""

LISTENER_PORT = 8080
"""The lab listener's TCP port, the same in every scenario: the one port the server
of `blackhole-filtered-dst` answers (FILTERED_PORT), and not the port `tcp-relay`
redirects (8443)."""
LISTENER_BYTES = 256 * 1024
"""The body of every answer of the lab listener, bytes."""
LISTENER_SECONDS = 12 * 3600.0
"""How long the listener of a kept lab (`mtuscope lab up`) runs at most."""
LISTENER_CONNECTIONS = 10_000
"""Connections the listener serves before it exits."""
LISTENER_CONNECTION_SECONDS = 10.0
"""The longest one connection may take (a black-holed answer gives up after this)."""


def server_argv(bind: str, port: int, *, nbytes: int = 65536, timeout: float = 10.0) -> list[str]:
    """The command line that runs the server (for `Lab.popen`).

    Args:
        bind: the address to listen on (the server node's lab address).
        port: the TCP port.
        nbytes: bytes to send to the one client.
        timeout: seconds the server waits for a client and then for its data to drain.

    Returns:
        An argument vector: this Python interpreter running this file.
    """
    return [sys.executable, str(Path(__file__)), "serve", bind, str(port),
            "--bytes", str(nbytes), "--timeout", str(timeout)]  # fmt: skip


def client_argv(connect: str, port: int, *, timeout: float = 8.0) -> list[str]:
    """The command line that runs the client (for `Lab.exec` or `Lab.popen`).

    Args:
        connect: the server's lab address.
        port: the TCP port.
        timeout: seconds after which the client gives up and closes.

    Returns:
        An argument vector: this Python interpreter running this file.
    """
    return [sys.executable, str(Path(__file__)), "fetch", connect, str(port),
            "--timeout", str(timeout)]  # fmt: skip


def listener_argv(
    port: int = LISTENER_PORT, *, nbytes: int = LISTENER_BYTES, seconds: float = LISTENER_SECONDS
) -> list[str]:
    """The command line that starts the lab's HTTP listener (for `Lab.popen` on the server).

    The command returns once the listener listens; the listener runs on detached.

    Args:
        port: the TCP port, on every IPv4 and IPv6 address of the node.
        nbytes: the body of every answer, bytes.
        seconds: how long the listener runs at most.

    Returns:
        An argument vector: this Python interpreter running this file.
    """
    return [sys.executable, str(Path(__file__)), "http", str(port),
            "--bytes", str(nbytes), "--seconds", str(seconds)]  # fmt: skip


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def serve(bind: str, port: int, nbytes: int, timeout: float) -> dict[str, object]:
    """Accept one client, send it `nbytes` bytes, close; bounded by `timeout` overall."""
    start = time.monotonic()
    sent = 0
    with socket.socket(_family(bind), socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((bind, port))
        listener.listen(1)
        print(json.dumps({"listening": port}), flush=True)
        listener.settimeout(timeout)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return {"sent": 0, "seconds": time.monotonic() - start}
        with conn:
            payload = bytes(i % 251 for i in range(nbytes))
            view = memoryview(payload)
            while sent < nbytes:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    break
                conn.settimeout(left)
                try:
                    sent += conn.send(view[sent:])
                except OSError:
                    break
            try:
                conn.shutdown(socket.SHUT_WR)
                # Wait (bounded) for the client's FIN, so the close is orderly.
                conn.settimeout(max(0.1, timeout - (time.monotonic() - start)))
                while conn.recv(4096):
                    pass
            except OSError:
                pass
    return {"sent": sent, "seconds": round(time.monotonic() - start, 3)}


def fetch(connect: str, port: int, timeout: float) -> dict[str, object]:
    """Connect, read until the server closes or `timeout` passes, then close."""
    start = time.monotonic()
    received = 0
    complete = False
    with socket.socket(_family(connect), socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((connect, port))
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    break
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    complete = True
                    break
                received += len(chunk)
        except OSError:
            pass
    return {"received": received, "seconds": round(time.monotonic() - start, 3),
            "complete": complete}  # fmt: skip


class _Body(http.server.BaseHTTPRequestHandler):
    """Any GET: `body` bytes with a Content-Length, then the connection closes."""

    protocol_version = "HTTP/1.1"
    server_version = "mtuscope-lab"
    timeout = LISTENER_CONNECTION_SECONDS  # StreamRequestHandler: the socket's timeout
    body = b""

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if with_body:
            try:
                self.wfile.write(self.body)
            except OSError:
                pass  # the client left, or the answer timed out (a black hole)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass  # detached: no terminal to log to


class _DualStackServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    accepted = 0
    """Connections taken so far (the bound is `LISTENER_CONNECTIONS`)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1
        super().process_request(request, client_address)

    def server_bind(self) -> None:
        # One socket for both families: IPv4 clients arrive as ::ffff:a.b.c.d.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve_http(port: int, nbytes: int, seconds: float, *, detach: bool = True) -> int:
    """Listen on `port` (every address, both families), report, detach, serve; bounded.

    Returns:
        0 once the listener has served its time or its connections; 1 when it
        could not listen (the reason printed as ``{"error": ...}``).
    """
    _Body.body = bytes(i % 251 for i in range(nbytes))
    try:
        server = _DualStackServer(("::", port), _Body)
    except OSError as exc:
        print(json.dumps({"error": f"cannot listen on port {port}: {exc.strerror}"}), flush=True)
        return 1
    if detach:
        child = os.fork()
        if child:
            # The caller's command returns here: the listener is up.
            print(json.dumps({"listening": port, "pid": child}), flush=True)
            os._exit(0)
        os.setsid()  # its own session: no terminal, no SIGHUP when that closes
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    else:
        print(json.dumps({"listening": port, "pid": os.getpid()}), flush=True)
    deadline = time.monotonic() + seconds
    server.timeout = 1.0
    with server:
        while server.accepted < LISTENER_CONNECTIONS and time.monotonic() < deadline:
            server.handle_request()  # returns after a connection or 1 s without one
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the script.

    Returns:
        0 when the transfer completed, 1 when it did not.
    """
    parser = argparse.ArgumentParser(description="lab TCP traffic")
    sub = parser.add_subparsers(dest="mode", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("bind")
    srv.add_argument("port", type=int)
    srv.add_argument("--bytes", type=int, default=65536)
    srv.add_argument("--timeout", type=float, default=10.0)
    cli = sub.add_parser("fetch")
    cli.add_argument("connect")
    cli.add_argument("port", type=int)
    cli.add_argument("--timeout", type=float, default=8.0)
    web = sub.add_parser("http")
    web.add_argument("port", type=int)
    web.add_argument("--bytes", type=int, default=LISTENER_BYTES)
    web.add_argument("--seconds", type=float, default=LISTENER_SECONDS)
    web.add_argument("--foreground", action="store_true", help="do not detach")
    args = parser.parse_args(argv)
    if args.mode == "http":
        return serve_http(
            args.port,
            min(max(args.bytes, 0), MAX_BYTES),
            min(max(args.seconds, 0.1), LISTENER_SECONDS),
            detach=not args.foreground,
        )
    timeout = min(max(args.timeout, 0.1), MAX_SECONDS)
    if args.mode == "serve":
        result = serve(args.bind, args.port, min(max(args.bytes, 0), MAX_BYTES), timeout)
        ok = result["sent"] == args.bytes
    else:
        result = fetch(args.connect, args.port, timeout)
        ok = result["complete"] is True
    print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
