"""A small lab of our own for the transport tests: client -- router -- server.

Built with `ip netns` and veth pairs under unique `mtus-t-<hex>` names, with
documentation prefixes only, and always torn down (also when a test fails):

    client 192.0.2.1  2001:db8:1::1 ---(1500)--- 192.0.2.254  2001:db8:1::ff  router
    router 198.51.100.254  2001:db8:2::ff ---(1400)--- 198.51.100.1  2001:db8:2::1  server

The router forwards, has ICMP rate limits off and DAD is off everywhere. The
server runs a TCP listener on port 8080 (IPv4 and IPv6) that sends `SERVED`
bytes to every connection and closes it. Sockets run inside the client (or
server) namespace in a forked child that `setns`es itself there
(`run_in_netns`); the pytest process never changes namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

CLONE_NEWNET = 0x40000000
NOBODY = 65534
PORT = 8080
SERVED = 300_000
"""Bytes the lab server sends on every connection."""

CLIENT4, ROUTER_C4, ROUTER_S4, SERVER4 = (
    IPv4Address("192.0.2.1"),
    IPv4Address("192.0.2.254"),
    IPv4Address("198.51.100.254"),
    IPv4Address("198.51.100.1"),
)
CLIENT6, ROUTER_C6, ROUTER_S6, SERVER6 = (
    IPv6Address("2001:db8:1::1"),
    IPv6Address("2001:db8:1::ff"),
    IPv6Address("2001:db8:2::ff"),
    IPv6Address("2001:db8:2::1"),
)
BOTTLENECK = 1400

_SERVER = f"""
import socket, threading, time
def serve(conn):
    conn.settimeout(3)
    try:
        conn.sendall(bytes({SERVED}))
    except OSError:
        pass
    conn.close()
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind(("::", {PORT}))
srv.listen(16)
srv.settimeout(0.5)
print("ready", flush=True)
end = time.monotonic() + 120
while time.monotonic() < end:
    try:
        conn, _ = srv.accept()
    except TimeoutError:
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux network namespaces"
    if os.geteuid() != 0:
        return "needs root to build network namespaces and open raw sockets"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def _ip(*argv: str, timeout: float = 10.0) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=timeout)


def _sysctl(ns: str, *settings: str) -> None:
    _ip("netns", "exec", ns, "sysctl", "-q", "-w", *settings)


@dataclass(frozen=True)
class Lab:
    client: str
    router: str
    server: str
    client_dev: str
    """The client's veth toward the router."""


def _build(tag: str) -> Lab:
    lab = Lab(
        client=f"mtus-t-{tag}-c",
        router=f"mtus-t-{tag}-r",
        server=f"mtus-t-{tag}-s",
        client_dev=f"mt{tag}c",
    )
    for ns in (lab.client, lab.router, lab.server):
        _ip("netns", "add", ns)
        _sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        _ip("-n", ns, "link", "set", "lo", "up")
    _sysctl(
        lab.router,
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.icmp_ratelimit=0",
        "net.ipv6.icmp.ratelimit=0",
    )
    c, rc, rs, s = f"mt{tag}c", f"mt{tag}rc", f"mt{tag}rs", f"mt{tag}s"
    _ip("link", "add", c, "netns", lab.client, "type", "veth", "peer", rc, "netns", lab.router)
    _ip("link", "add", rs, "netns", lab.router, "type", "veth", "peer", s, "netns", lab.server)
    for ns, dev, mtu, addrs in (
        (lab.client, c, 1500, (f"{CLIENT4}/24", f"{CLIENT6}/64")),
        (lab.router, rc, 1500, (f"{ROUTER_C4}/24", f"{ROUTER_C6}/64")),
        (lab.router, rs, BOTTLENECK, (f"{ROUTER_S4}/24", f"{ROUTER_S6}/64")),
        (lab.server, s, BOTTLENECK, (f"{SERVER4}/24", f"{SERVER6}/64")),
    ):
        _ip("-n", ns, "link", "set", dev, "mtu", str(mtu), "up")
        _ip("-n", ns, "addr", "add", addrs[0], "dev", dev)
        _ip("-n", ns, "-6", "addr", "add", addrs[1], "dev", dev, "nodad")
    _ip("-n", lab.client, "route", "add", "default", "via", str(ROUTER_C4))
    _ip("-n", lab.client, "-6", "route", "add", "default", "via", str(ROUTER_C6))
    _ip("-n", lab.server, "route", "add", "default", "via", str(ROUTER_S4))
    _ip("-n", lab.server, "-6", "route", "add", "default", "via", str(ROUTER_S6))
    return lab


def _teardown(tag: str) -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    for line in listed.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"mtus-t-{tag}-"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The client -- router -- server lab with the TCP server running; always torn down."""
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    tag = secrets.token_hex(3)
    server: subprocess.Popen[str] | None = None
    try:
        built = _build(tag)
        server = subprocess.Popen(
            ["ip", "netns", "exec", built.server, sys.executable, "-c", _SERVER],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 10)
        assert ready and server.stdout.readline().strip() == "ready", "lab server did not start"
        yield built
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
            if server.stdout is not None:
                server.stdout.close()
        _teardown(tag)


def _setns(ns: str) -> None:
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
    finally:
        os.close(fd)


def run_in_netns(
    ns: str,
    fn: Callable[..., Any],
    *args: Any,
    as_nobody: bool = False,
    timeout: float = 20.0,
    **kwargs: Any,
) -> Any:
    """Run `fn(*args, **kwargs)` in a forked child inside namespace `ns`; return its result.

    With `as_nobody` the child drops to uid/gid 65534 after entering the
    namespace, which also empties its capability sets. A failure in the child is
    re-raised here as an AssertionError carrying the child's traceback.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(rfd)
            try:
                _setns(ns)
                if as_nobody:
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                payload = pickle.dumps(("ok", fn(*args, **kwargs)))
            except BaseException:
                payload = pickle.dumps(("error", traceback.format_exc()))
            with os.fdopen(wfd, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(wfd)
    chunks: list[bytes] = []
    end = time.monotonic() + timeout
    try:
        with os.fdopen(rfd, "rb") as pipe:
            while True:
                left = end - time.monotonic()
                ready, _, _ = select.select([pipe], [], [], max(0.0, left))
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    raise AssertionError(f"child in {ns} ran past {timeout} s")
                chunk = os.read(pipe.fileno(), 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.waitpid(pid, 0)
    status, value = pickle.loads(b"".join(chunks))
    if status != "ok":
        raise AssertionError(f"child in {ns} failed:\n{value}")
    return value


@contextlib.contextmanager
def router_rules(lab: Lab, hook: str, *rules: str) -> Iterator[None]:
    """nft rules in a table of their own on the router, removed afterwards whatever happens."""
    table = f"mtust{hook}"
    nft = ["ip", "netns", "exec", lab.router, "nft"]
    chain = f"{{ type filter hook {hook} priority 0 ; }}"
    try:
        subprocess.run([*nft, "add", "table", "inet", table], check=True, capture_output=True)
        subprocess.run(
            [*nft, "add", "chain", "inet", table, "c", chain], check=True, capture_output=True
        )
        for rule in rules:
            subprocess.run(
                [*nft, "add", "rule", "inet", table, "c", *rule.split()],
                check=True,
                capture_output=True,
                timeout=10,
            )
        yield
    finally:
        subprocess.run([*nft, "delete", "table", "inet", table], capture_output=True, timeout=10)


@pytest.fixture
def icmp_errors_dropped(lab: Lab) -> Iterator[None]:
    """The router drops the too-big messages it sends (its output chain): a PMTU black hole."""
    with router_rules(
        lab,
        "output",
        "icmp type destination-unreachable drop",
        "icmpv6 type packet-too-big drop",
    ):
        yield


@pytest.fixture
def big_packets_dropped(lab: Lab) -> Iterator[None]:
    """The router silently drops every forwarded packet over 1000 bytes: a black hole
    that lets the handshake through and swallows the server's full-size segments."""
    with router_rules(lab, "forward", "meta length > 1000 drop"):
        yield


def send_probes(transport: Any, probes: list[Any], book: Any) -> None:
    """Send `probes` as an engine would: the packet built from `book` (raw transports)."""
    from mtuscope.active.probe_packet import encode_probe

    now = time.monotonic()
    for probe in probes:
        src = transport.source(probe.dst)
        packet = None if src is None else encode_probe(book.register(probe, src=src, sent_at=now))
        transport.send(probe, packet, now)


def wait_reply(transport: Any, seconds: float, book: Any = None) -> Any:
    """The first reply to one of `book`'s probes that `transport` gives within `seconds`.

    Transports never read the clock and wake up once per `receive`, and a raw one
    gives bytes (`Datagram`) that the engine's book matches; this is the test's own
    little driver loop around them. None after `seconds` without a reply.
    """
    from mtuscope.active.probe import Datagram

    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        got = transport.receive(max(0.0, left))
        if isinstance(got, Datagram):
            matched = book.match(got) if book is not None else None
            got = matched.reply if matched is not None else None
        if got is not None or left <= 0:
            return got


def new_book(seed: int = 0) -> Any:
    """A probe book as an engine has one (random identifiers from `seed`)."""
    import random

    from mtuscope.active.matching import ProbeBook

    rng = random.Random(seed)
    return ProbeBook(
        ident=rng.randrange(1, 0x10000), port_base=rng.randrange(33434, 61439), rng=rng
    )
