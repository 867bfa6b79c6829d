"""A tiny TCP server and client for lab traffic, run as a script inside a namespace.

Layer: lab (an edge). The file imports only the standard library so that it
runs as ``python3 traffic.py serve|fetch ...`` under ``ip netns exec`` without
mtuscope being installed. The server sends a fixed number of bytes to one
client and closes; the client reads until the end or its deadline. Both are
bounded in bytes and in time, and talk only to the addresses they are given
(lab addresses). `server_argv` and `client_argv` build the command lines.

Each side prints one JSON line on stdout: the server ``{"listening": port}``
once it listens, then ``{"sent": n, "seconds": t}``; the client
``{"received": n, "seconds": t, "complete": bool}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

MAX_BYTES = 16 * 1024 * 1024
"""The most a server will send: lab traffic stays small."""
MAX_SECONDS = 60.0
"""The longest either side runs."""


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
    args = parser.parse_args(argv)
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
