"""Lab scenarios with boxes that change TCP SYNs in flight, and the small TCP relay one uses.

Layer: lab (an edge). The declarations are pure data (`Scenario` values from
lab/topology.py, nftables ruleset texts, and a `MiddleboxTruth` per scenario
saying what a per-hop walk and two capture points must find). The relay part
(`relay_argv`, `serve_relay`, `main`) runs as ``python -m
mtuscope.lab.middlebox_scenarios relay ...`` inside a router's namespace
(`Lab.popen`); it uses only the standard library's sockets, is bounded in
connections, bytes and seconds, and connects only to the original destination
of the connections the router's own nftables rule redirected to it (lab
addresses).

Every scenario here is a chain client - r1 - r2 - r3 - server, numbered from
the documentation prefixes only (RFC 5737, RFC 3849); the client is
192.0.2.1 / 2001:db8:0:1::1 and the server 203.0.113.2 / 2001:db8:0:3::2:

    client  c-r1  r1  r1-r2  r2  r2-r3  r3  r3-s  server
      192.0.2.0/24  198.51.100.0/25  198.51.100.128/25  203.0.113.0/24
      2001:db8:0:1::/64  2001:db8:0:2::/64  2001:db8:0:4::/64  2001:db8:0:3::/64

- `clamp-hop2`: r2 lowers the MSS of forwarded SYNs to 1300. Linux checks the
  TTL before the forward hook, so r2's own time-exceeded still quotes 1460
  (1440 for IPv6); r3's quotes 1300: the change lies between hop 2 and hop 3.
- `nat`: r1 masquerades the client behind its r1-r2 address. The server sees
  r1's address and another source port, but the quotes the client receives
  from r2 and r3 show nothing: Linux's NAT translates the packet quoted inside
  an ICMP error back as well (RFC 5508 REQ-3; nf_nat_icmp_reply_translation),
  so the translation is invisible from the client, by design. IPv4 and IPv6.
- `tcp-relay`: r2 redirects TCP to port `RELAY_PORT` to a relay listening on
  `PROXY_PORT` (nftables `redirect`), which re-originates each connection to
  the original destination with MSS `RELAY_MSS` and its own ISN: the client's
  SYN with TTL 2 is answered (by r2's kernel, from the server's address); the
  server sees r2's address, another ISN and MSS 1200. IPv4 and IPv6.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from mtuscope.lab.rulesets import clamp_mss_ruleset, masquerade_ruleset, redirect_ruleset
from mtuscope.lab.scenarios import line_scenario
from mtuscope.lab.topology import (
    Clamp,
    Node,
    Role,
    Scenario,
)

CLAMP_MSS = 1300
SERVICE_PORT = 8443
"""The TCP port the tests probe and connect to."""
PROXY_PORT = 3129
"""Where the relay listens on r2 (the redirect's target)."""
RELAY_MSS = 1200
"""The MSS the relay's own connections towards the server announce."""

_V4 = (
    IPv4Network("192.0.2.0/24"),
    IPv4Network("198.51.100.0/25"),
    IPv4Network("198.51.100.128/25"),
    IPv4Network("203.0.113.0/24"),
)
_V6 = (
    IPv6Network("2001:db8:0:1::/64"),
    IPv6Network("2001:db8:0:2::/64"),
    IPv6Network("2001:db8:0:4::/64"),
    IPv6Network("2001:db8:0:3::/64"),
)


def _chain3(name: str, description: str, **routers: Node) -> Scenario:
    chain = tuple(routers.get(r) or Node(name=r, role=Role.ROUTER) for r in ("r1", "r2", "r3"))
    clamp = None
    for node in chain:
        if "maxseg size set" in node.nft:
            clamp = Clamp(node=node.name, mss=CLAMP_MSS)
    nets = tuple(zip(_V4, _V6, strict=True))
    return line_scenario(name=name, description=description, routers=chain, nets=nets, clamp=clamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedChange:
    """A field a per-hop walk must see change, and between which routers."""

    field: str
    """Wireshark's field name, as `MiddleboxResult.changes` has it."""
    before: int | None
    """The value up to `from_node`; None: the value the client sent."""
    after: int
    from_node: str
    """The last router that still quotes `before`."""
    to_node: str
    """The first router that quotes `after`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MiddleboxTruth:
    """What is true of a middlebox scenario, for `mtuscope middlebox` and two captures."""

    scenario: str
    port: int = SERVICE_PORT
    changes: tuple[ExpectedChange, ...] = ()
    """Changes the quotes show (the same for IPv4 and IPv6)."""
    syn_ack_mss: dict[int, int] | None = None
    """The MSS the client sees in the SYN/ACK, by family."""
    nat: str | None = None
    """The router whose address the server sees instead of the client's."""
    proxy: str | None = None
    """The router that answers TCP for the server (it terminates connections)."""
    upstream_mss: int | None = None
    """The MSS of the SYN the server receives, when a box sets its own."""
    new_isn: bool = False
    """The server sees another initial sequence number than the client sent."""
    families: tuple[int, ...] = (4, 6)
    """Address families the scenario works for on this kernel."""


CLAMP_HOP2 = _chain3(
    "clamp-hop2",
    "client-r1-r2-r3-server, every link 1500; r2 lowers the MSS of forwarded SYNs to 1300",
    r2=Node(name="r2", role=Role.ROUTER, nft=clamp_mss_ruleset(CLAMP_MSS)),
)
NAT = _chain3(
    "nat",
    "client-r1-r2-r3-server; r1 masquerades the client behind its r1-r2 address",
    r1=Node(name="r1", role=Role.ROUTER, nft=masquerade_ruleset("r1-r2")),
)
TCP_RELAY = _chain3(
    "tcp-relay",
    f"client-r1-r2-r3-server; r2 redirects TCP port {SERVICE_PORT} to a relay that "
    f"re-originates the connection with MSS {RELAY_MSS} (start it with relay_argv)",
    r2=Node(name="r2", role=Role.ROUTER, nft=redirect_ruleset(SERVICE_PORT, PROXY_PORT)),
)

MIDDLEBOX_SCENARIOS: tuple[Scenario, ...] = (CLAMP_HOP2, NAT, TCP_RELAY)
"""The scenarios of this module, for the catalogue."""

MIDDLEBOX_TRUTH: dict[str, MiddleboxTruth] = {
    "clamp-hop2": MiddleboxTruth(
        scenario="clamp-hop2",
        changes=(
            ExpectedChange(
                field="tcp.options.mss_val",
                before=None,
                after=CLAMP_MSS,
                from_node="r2",
                to_node="r3",
            ),
        ),
        # The server's SYN/ACK (1460 / 1440) is a SYN too: r2 clamps it on the way back.
        syn_ack_mss={4: CLAMP_MSS, 6: CLAMP_MSS},
        upstream_mss=CLAMP_MSS,
    ),
    "nat": MiddleboxTruth(
        scenario="nat",
        syn_ack_mss={4: 1460, 6: 1440},
        nat="r1",
    ),
    "tcp-relay": MiddleboxTruth(
        scenario="tcp-relay",
        syn_ack_mss={4: 1460, 6: 1440},
        proxy="r2",
        upstream_mss=RELAY_MSS,
        new_isn=True,
    ),
}
"""What each scenario's walk and captures must show, by scenario name."""


# -- the relay script (standard library only) --------------------------------------------

SO_ORIGINAL_DST = 80
"""linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h) is 80 too."""
MAX_CONNECTIONS = 32
MAX_BYTES = 1 << 20
"""Per direction and connection."""
MAX_SECONDS = 60.0


def relay_argv(port: int = PROXY_PORT, *, mss: int = RELAY_MSS, seconds: float = 20.0) -> list[str]:
    """The command line that runs the relay (for `Lab.popen` in the router).

    Args:
        port: where to listen (IPv4 and IPv6, all addresses of the router).
        mss: the MSS the relay's own connections announce (TCP_MAXSEG).
        seconds: how long the relay runs before it exits.

    Returns:
        An argument vector: this Python interpreter running this module (mtuscope
        must be importable there: installed, or PYTHONPATH set).
    """
    return [sys.executable, "-m", "mtuscope.lab.middlebox_scenarios", "relay", str(port),
            "--mss", str(mss), "--seconds", str(seconds)]  # fmt: skip


def _original_destination(conn: socket.socket) -> tuple[str, int]:
    """Where the client meant to connect before the redirect (conntrack's record)."""
    if conn.family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port = struct.unpack_from("!H", raw, 2)[0]
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
    port = struct.unpack_from("!H", raw, 2)[0]
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port


def _pump(a: socket.socket, b: socket.socket, until: float) -> int:
    """Copy both ways until both sides closed or `until`; bytes copied."""
    moved = {a: 0, b: 0}
    peer = {a: b, b: a}
    open_ = {a, b}
    while open_ and time.monotonic() < until:
        ready, _, _ = select.select(list(open_), [], [], max(0.0, until - time.monotonic()))
        for sock in ready:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data or moved[sock] + len(data) > MAX_BYTES:
                open_.discard(sock)
                try:
                    peer[sock].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            moved[sock] += len(data)
            try:
                peer[sock].sendall(data)
            except OSError:
                return moved[a] + moved[b]
    return moved[a] + moved[b]


def serve_relay(port: int, mss: int, seconds: float) -> dict[str, object]:
    """Accept redirected connections and re-originate each to its original destination.

    One connection at a time (lab traffic is sequential), at most `MAX_CONNECTIONS`,
    `MAX_BYTES` per direction, and `seconds` in all.

    Returns:
        Counts, for the JSON line the script prints at the end.
    """
    end = time.monotonic() + min(seconds, MAX_SECONDS)
    listeners = []
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(8)
        listeners.append(sock)
    print(json.dumps({"listening": port}), flush=True)
    accepted = relayed = moved = 0
    try:
        while accepted < MAX_CONNECTIONS and time.monotonic() < end:
            ready, _, _ = select.select(listeners, [], [], max(0.0, end - time.monotonic()))
            for listener in ready:
                conn, _ = listener.accept()
                accepted += 1
                with conn:
                    try:
                        target = _original_destination(conn)
                        up = socket.socket(conn.family, socket.SOCK_STREAM)
                    except OSError:
                        continue
                    with up:
                        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
                        up.settimeout(max(0.1, min(3.0, end - time.monotonic())))
                        try:
                            up.connect(target)
                        except OSError:
                            continue
                        relayed += 1
                        moved += _pump(conn, up, end)
    finally:
        for sock in listeners:
            sock.close()
    return {"accepted": accepted, "relayed": relayed, "bytes": moved}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the relay script: ``relay PORT [--mss N] [--seconds S]``."""
    parser = argparse.ArgumentParser(description="bounded lab TCP relay")
    sub = parser.add_subparsers(dest="cmd", required=True)
    relay = sub.add_parser("relay")
    relay.add_argument("port", type=int)
    relay.add_argument("--mss", type=int, default=RELAY_MSS)
    relay.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    print(json.dumps(serve_relay(args.port, args.mss, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
