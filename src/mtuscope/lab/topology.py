"""Lab topologies as frozen data: nodes, links, the truth they stand for, and their routes.

Layer: lab (an edge), but this module is pure: it declares what a lab *is* and
computes what follows from the declaration (addresses, static routes). It runs
no command, touches no namespace and reads no clock; `lab.lab` builds the
declaration on the kernel.

A scenario is a declaration, not code: nodes (hosts and routers, with their
sysctls and nftables rulesets), links (veth pairs or VXLAN tunnels, each with
its MTU and its documentation prefixes), and the truth a measurement must find
(path MTU each way, which link drops, who sends or withholds the too-big
message, who clamps the MSS and to what).
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TypeVar

from mtuscope.active.probe import ProbeKind
from mtuscope.errors import UsageError
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER
from mtuscope.wire.sizes import IPV4_MIN_MTU, MAX_IP_PACKET
from mtuscope.wire.tcp import TCP_MIN_HEADER

# RFC 5737 (IPv4) and RFC 3849 (IPv6) documentation prefixes: the only space a
# lab may number from, so nothing it builds can ever collide with a real network.
DOC_PREFIXES_V4 = (
    IPv4Network("192.0.2.0/24"),
    IPv4Network("198.51.100.0/24"),
    IPv4Network("203.0.113.0/24"),
)
DOC_PREFIX_V6 = IPv6Network("2001:db8::/32")

_Named = TypeVar("_Named", "Node", "Link")

# IP and TCP headers without options, by family: an MTU less these is the MSS.
_TCP_IP_HEADERS = {4: IPV4_MIN_HEADER + TCP_MIN_HEADER, 6: IPV6_HEADER + TCP_MIN_HEADER}
_MAX_MSS = MAX_IP_PACKET - _TCP_IP_HEADERS[4]
"""The largest MSS an IPv4 packet leaves room for (65495)."""

# Linux interface names hold at most 15 bytes (IFNAMSIZ 16 with the NUL).
_IFNAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
_NODENAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


class Role(enum.Enum):
    """What a node does with packets that are not its own."""

    HOST = "host"
    """Ends connections; forwarding off."""
    ROUTER = "router"
    """Forwards (IPv4 and IPv6), and sends ICMP errors unless its ruleset withholds them."""


class LinkKind(enum.Enum):
    """How a link is built."""

    VETH = "veth"
    """A veth pair: one end in each node."""
    VXLAN = "vxlan"
    """A VXLAN tunnel (UDP 4789) carried over another link between the same two nodes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One network namespace."""

    name: str
    """Short name, lowercase letters and digits ("client", "r1")."""
    role: Role
    sysctls: tuple[tuple[str, str], ...] = ()
    """Extra `sysctl` settings for this node, applied after the lab's defaults."""
    nft: str = ""
    """An nftables ruleset (the text `nft -f` reads) loaded into this node; empty for none."""
    advmss: int | None = None
    """The TCP MSS this node announces on every route (`ip route ... advmss`), in bytes;
    None for the kernel's default (the interface MTU less 40 for IPv4, 60 for IPv6)."""

    def __post_init__(self) -> None:
        if not _NODENAME.match(self.name):
            raise UsageError(f"node name {self.name!r}: want 1-12 lowercase letters and digits")
        if self.advmss is not None and not 1 <= self.advmss <= _MAX_MSS:
            raise UsageError(f"node {self.name}: advmss {self.advmss} outside 1..{_MAX_MSS}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """One layer-3 link between two nodes; in each node its interface is named `name`."""

    name: str
    """Interface name on both ends (at most 15 characters)."""
    a: str
    """First node (takes the first host address of each prefix)."""
    b: str
    """Second node (takes the second host address)."""
    mtu: int
    """Interface MTU, in bytes (the largest IP packet the link carries): both ends, or
    only `a`'s end when `mtu_b` is set."""
    v4: IPv4Network
    v6: IPv6Network
    kind: LinkKind = LinkKind.VETH
    underlay: str | None = None
    """For VXLAN: the name of the veth link that carries the tunnel."""
    vni: int = 0
    """For VXLAN: the VXLAN network identifier."""
    routed: bool = True
    """False for an underlay: its prefix is reachable only from its two ends, and no
    route to any other prefix points over it."""
    mtu_b: int | None = None
    """MTU of `b`'s end when it differs from `a`'s: a layer-2 MTU mismatch, where
    packets that fit the sender's end are dropped silently by the receiving end."""

    def __post_init__(self) -> None:
        if not _IFNAME.match(self.name):
            raise UsageError(f"link name {self.name!r}: want a Linux interface name")
        if self.a == self.b:
            raise UsageError(f"link {self.name}: both ends on node {self.a}")
        for mtu in (self.mtu, self.mtu_b):
            if mtu is not None and not IPV4_MIN_MTU <= mtu <= MAX_IP_PACKET:
                raise UsageError(
                    f"link {self.name}: MTU {mtu} outside {IPV4_MIN_MTU}..{MAX_IP_PACKET}"
                )
        if not any(self.v4.subnet_of(p) for p in DOC_PREFIXES_V4):
            raise UsageError(f"link {self.name}: {self.v4} is not a documentation prefix")
        if not self.v6.subnet_of(DOC_PREFIX_V6):
            raise UsageError(f"link {self.name}: {self.v6} is not inside {DOC_PREFIX_V6}")
        if self.v4.num_addresses < 4 or self.v6.num_addresses < 4:
            raise UsageError(f"link {self.name}: prefixes too small for two hosts")
        if (self.kind is LinkKind.VXLAN) != (self.underlay is not None):
            raise UsageError(f"link {self.name}: a VXLAN link, and only one, names an underlay")

    def ends(self) -> tuple[str, str]:
        """Both node names, `a` first."""
        return (self.a, self.b)

    def mtu_of(self, node: str) -> int:
        """The MTU of `node`'s end of this link.

        Raises:
            UsageError: `node` is not an end of this link.
        """
        self.peer(node)
        return self.mtu_b if node == self.b and self.mtu_b is not None else self.mtu

    def peer(self, node: str) -> str:
        """The node at the other end from `node`.

        Raises:
            UsageError: `node` is not an end of this link.
        """
        if node == self.a:
            return self.b
        if node == self.b:
            return self.a
        raise UsageError(f"node {node} is not on link {self.name}")

    def address(self, node: str, family: int) -> IPv4Address | IPv6Address:
        """The address `node` has on this link (family 4 or 6).

        Raises:
            UsageError: `node` is not an end of this link, or the family is not 4 or 6.
        """
        index = 1 if node == self.a else 2 if node == self.b else 0
        if index == 0:
            raise UsageError(f"node {node} is not on link {self.name}")
        if family == 4:
            return self.v4[index]
        if family == 6:
            return self.v6[index]
        raise UsageError(f"address family {family}: want 4 or 6")


@dataclass(frozen=True, slots=True, kw_only=True)
class Clamp:
    """A node that rewrites the MSS option of SYNs it forwards."""

    node: str
    mss: int
    """The MSS value it writes, in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Drop:
    """One place, before the last, where the MTU drops along a direction."""

    link: str
    """The link whose MTU is smaller than everything before it."""
    too_big_from: str
    """The router in front of it, which sends a too-big message."""
    mtu: int
    """The MTU of that link, and the MTU its too-big messages carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectionTruth:
    """What is true of the path in one direction (from one host to the other)."""

    path_mtu: int
    """Largest IPv4 packet, in bytes, that reaches the far host with DF set (and the
    IPv6 one too, unless `path_mtu_v6` says otherwise)."""
    drop_link: str | None
    """Name of the link whose MTU is the path MTU, or None when nothing drops below 1500."""
    too_big_from: str | None
    """The router that reports the drop (ICMP frag-needed / packet-too-big); None when
    no router can (nothing drops, or a layer-2 mismatch drops silently)."""
    icmp_withheld: bool
    """True when that router's too-big messages are dropped before they leave it."""
    path_mtu_v6: int | None = None
    """Largest IPv6 packet that reaches the far host, when it differs from `path_mtu`."""
    too_big_mtu: int | None = None
    """The MTU field the too-big messages carry when it is not the path MTU (a router
    that writes a useless value, e.g. 0 or 65535); None: the correct value."""
    learned_v4: int | None = None
    """With `too_big_mtu` set: the path MTU the sender's kernel caches from such an
    IPv4 message (`ip route get`), or None when it ignores it."""
    learned_v6: int | None = None
    """The same for IPv6."""
    earlier_drops: tuple[Drop, ...] = ()
    """Drops before the last one, in path order (each larger than the path MTU)."""

    def pmtu(self, family: int) -> int:
        """The path MTU for address family 4 or 6, in bytes.

        Raises:
            UsageError: the family is not 4 or 6.
        """
        if family == 4:
            return self.path_mtu
        if family == 6:
            return self.path_mtu if self.path_mtu_v6 is None else self.path_mtu_v6
        raise UsageError(f"address family {family}: want 4 or 6")

    @property
    def too_big_sent(self) -> bool:
        """True when a too-big message for the last drop reaches the sender."""
        return self.too_big_from is not None and not self.icmp_withheld

    def advertised_mtu(self) -> int | None:
        """The MTU field of the too-big messages that reach the sender, or None if none do."""
        if not self.too_big_sent:
            return None
        return self.path_mtu if self.too_big_mtu is None else self.too_big_mtu

    def learned(self, family: int) -> int | None:
        """The path MTU the sender's kernel caches once its too-big message arrived.

        Returns:
            None when no too-big message arrives or the kernel ignores its value.

        Raises:
            UsageError: the family is not 4 or 6.
        """
        pmtu = self.pmtu(family)
        if not self.too_big_sent:
            return None
        if self.too_big_mtu is None:
            return pmtu
        return self.learned_v4 if family == 4 else self.learned_v6


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A static route in one node, computed from the topology."""

    prefix: IPv4Network | IPv6Network
    via: IPv4Address | IPv6Address
    dev: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole lab: the topology and the truth a measurement over it must find."""

    name: str
    description: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    client: str
    """The host that measures, connects, or pings."""
    server: str
    """The host it measures towards."""
    forward: DirectionTruth
    """Client to server."""
    reverse: DirectionTruth
    """Server to client."""
    clamp: Clamp | None = None
    server_answers: frozenset[ProbeKind] = frozenset(ProbeKind)
    """The probe kinds the server answers (IPv4 and IPv6 alike; active/'s `ProbeKind`)."""
    server_tcp_port: int | None = None
    """When set, the server answers TCP only on this port (others are dropped silently)."""
    hops: tuple[str, ...] = field(default=(), init=False)
    """The routers on the path from client to server, in order (computed)."""

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise UsageError(f"scenario {self.name}: node names repeat")
        by_name = {n.name: n for n in self.nodes}
        link_names = [link.name for link in self.links]
        if len(set(link_names)) != len(link_names):
            raise UsageError(f"scenario {self.name}: link names repeat")
        for link in self.links:
            for end in link.ends():
                if end not in by_name:
                    raise UsageError(f"scenario {self.name}: link {link.name} names {end}")
            if link.underlay is not None:
                under = next((u for u in self.links if u.name == link.underlay), None)
                if under is None or set(under.ends()) != set(link.ends()):
                    raise UsageError(f"link {link.name}: underlay must join the same two nodes")
        for host in (self.client, self.server):
            if host not in by_name or by_name[host].role is not Role.HOST:
                raise UsageError(f"scenario {self.name}: {host} is not a host")
        for truth in (self.forward, self.reverse):
            links = [truth.drop_link, *(d.link for d in truth.earlier_drops)]
            senders = [truth.too_big_from, *(d.too_big_from for d in truth.earlier_drops)]
            for name in links:
                if name is not None and name not in link_names:
                    raise UsageError(f"scenario {self.name}: unknown drop link {name}")
            for name in senders:
                if name is not None and name not in by_name:
                    raise UsageError(f"scenario {self.name}: unknown node {name}")
        if self.server_tcp_port is not None and not 1 <= self.server_tcp_port <= 65535:
            raise UsageError(f"scenario {self.name}: TCP port {self.server_tcp_port}")
        if self.clamp is not None and self.clamp.node not in by_name:
            raise UsageError(f"scenario {self.name}: unknown clamping node {self.clamp.node}")
        path = _path(self.links, self.client, self.server)
        if path is None:
            raise UsageError(f"scenario {self.name}: no path from {self.client} to {self.server}")
        object.__setattr__(self, "hops", tuple(path[1:-1]))

    def path(self, *, reverse: bool = False) -> tuple[str, ...]:
        """Node names from the client to the server (or back, with `reverse`)."""
        ends = (self.client, *self.hops, self.server)
        return ends[::-1] if reverse else ends

    def hop_index(self, node: str, *, reverse: bool = False) -> int:
        """The hop count (TTL / hop limit) at which a probe reaches router `node`.

        Args:
            node: a router on the path.
            reverse: count from the server instead of from the client.

        Returns:
            1 for the first router after the sending host, 2 for the next, ...

        Raises:
            UsageError: `node` is not a router on the path.
        """
        hops = self.hops[::-1] if reverse else self.hops
        if node not in hops:
            raise UsageError(f"scenario {self.name}: {node} is not a router on the path")
        return hops.index(node) + 1

    def too_big_source(
        self, node: str, family: int, *, reverse: bool = False
    ) -> IPv4Address | IPv6Address:
        """The source address of the ICMP errors router `node` sends back to the sender.

        Linux sends an ICMP error from its address on the interface that routes
        back to the offending packet's source: the link towards the sending host.

        Raises:
            UsageError: `node` is not a router on the path, or a bad family.
        """
        path = self.path(reverse=reverse)
        index = self.hop_index(node, reverse=reverse)
        return _routed_link(self.links, path[index - 1], node).address(node, family)

    def server_mss(self, family: int) -> int:
        """The MSS the server announces in its SYN-ACK, in bytes.

        Raises:
            UsageError: the family is not 4 or 6.
        """
        if family not in (4, 6):
            raise UsageError(f"address family {family}: want 4 or 6")
        advmss = self.node(self.server).advmss
        if advmss is not None:
            return advmss
        last = _routed_link(self.links, self.hops[-1] if self.hops else self.client, self.server)
        return last.mtu_of(self.server) - _TCP_IP_HEADERS[family]

    def node(self, name: str) -> Node:
        """The node called `name`.

        Raises:
            UsageError: no such node.
        """
        return self._named(self.nodes, "node", name)

    def link(self, name: str) -> Link:
        """The link called `name`.

        Raises:
            UsageError: no such link.
        """
        return self._named(self.links, "link", name)

    def _named(self, items: tuple[_Named, ...], what: str, name: str) -> _Named:
        for item in items:
            if item.name == name:
                return item
        raise UsageError(f"scenario {self.name}: no {what} {name!r}")

    def links_of(self, node: str) -> tuple[Link, ...]:
        """The links with an end on `node`, in declaration order."""
        return tuple(link for link in self.links if node in link.ends())

    def address(self, node: str, family: int) -> IPv4Address | IPv6Address:
        """The node's address on its first routed link: the one others reach it by.

        Raises:
            UsageError: no such node, or it has no routed link.
        """
        for link in self.links_of(self.node(node).name):
            if link.routed:
                return link.address(node, family)
        raise UsageError(f"scenario {self.name}: node {node} has no routed link")

    def routes(self, node: str) -> tuple[Route, ...]:
        """Static routes for `node` to every prefix it is not attached to.

        Each prefix is reached through the neighbour on a shortest path of routed
        links to either end of the prefix's link. Only lab prefixes get a route;
        there is no default route, so nothing can leave the lab.
        """
        attached = {link.name for link in self.links_of(node)}
        routes: list[Route] = []
        for target in self.links:
            if target.name in attached or not target.routed:
                continue
            best: list[str] | None = None
            for end in target.ends():
                path = _path(self.links, node, end)
                if path is not None and (best is None or len(path) < len(best)):
                    best = path
            if best is None or len(best) < 2:
                continue
            first = _routed_link(self.links, best[0], best[1])
            for prefix in (target.v4, target.v6):
                via = first.address(best[1], prefix.version)
                routes.append(Route(prefix=prefix, via=via, dev=first.name))
        return tuple(routes)


def _routed_link(links: tuple[Link, ...], a: str, b: str) -> Link:
    for link in links:
        if link.routed and set(link.ends()) == {a, b}:
            return link
    raise UsageError(f"no routed link between {a} and {b}")


def _path(links: tuple[Link, ...], src: str, dst: str) -> list[str] | None:
    """Shortest path of node names over routed links (breadth-first), or None."""
    previous: dict[str, str | None] = {src: None}
    queue = deque([src])
    while queue:
        here = queue.popleft()
        if here == dst:
            path = [here]
            while (back := previous[path[-1]]) is not None:
                path.append(back)
            return path[::-1]
        for link in links:
            if link.routed and here in link.ends():
                there = link.peer(here)
                if there not in previous:
                    previous[there] = here
                    queue.append(there)
    return None
