"""The catalogue of lab scenarios, each a frozen declaration with its truth.

Layer: lab (an edge), but this module is pure data: it builds `Scenario`
values; the nftables rulesets they load are in `rulesets.py`. It runs nothing. Adding a
scenario means adding a declaration here, nothing else.

Every scenario is a chain client - r1 - r2 - server (`two-drops` has a third
router, r3, and splits the middle prefix), numbered from the documentation
prefixes only (RFC 5737, RFC 3849):

    client  c-r1  r1  r1-r2  r2  r2-s  server
        192.0.2.0/24   198.51.100.0/24   203.0.113.0/24
        2001:db8:0:1::/64   2001:db8:0:2::/64   2001:db8:0:3::/64

so the client is 192.0.2.1 / 2001:db8:0:1::1 and the server 203.0.113.2 /
2001:db8:0:3::2 in every scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from types import MappingProxyType

from mtuscope.active.probe import ProbeKind
from mtuscope.errors import UsageError
from mtuscope.lab.rulesets import (
    WITHHOLD_TOO_BIG,
    clamp_mss_ruleset,
    only_tcp_port_ruleset,
    rewrite_too_big_mtu_ruleset,
)
from mtuscope.lab.topology import (
    Clamp,
    DirectionTruth,
    Drop,
    Link,
    LinkKind,
    Node,
    Role,
    Scenario,
)

FILTERED_PORT = 8080
"""The one TCP port the server of `blackhole-filtered-dst` answers on."""

# Prefixes of a chain's links in order. A three-link chain uses the first
# three; a four-link chain (two drops) splits 198.51.100.0/24 for its two
# middle links, so the client and server addresses stay the same everywhere.
# The VXLAN scenario's two r1-r2 links (underlay, tunnel) use the same split.
_V4 = (IPv4Network("192.0.2.0/24"), IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.0/24"))
_V6 = (
    IPv6Network("2001:db8:0:1::/64"),
    IPv6Network("2001:db8:0:2::/64"),
    IPv6Network("2001:db8:0:3::/64"),
)
_V4_CORE2 = (IPv4Network("198.51.100.0/25"), IPv4Network("198.51.100.128/25"))
_V6_CORE2 = (IPv6Network("2001:db8:0:2::/64"), IPv6Network("2001:db8:0:4::/64"))


def _chain(
    *,
    name: str,
    description: str,
    core_mtu: int = 1500,
    r1: Node | None = None,
    r2: Node | None = None,
    server: Node | None = None,
    truth: tuple[DirectionTruth, DirectionTruth] | None = None,
    clamp: Clamp | None = None,
    core_mtu_b: int | None = None,
    server_answers: frozenset[ProbeKind] = frozenset(ProbeKind),
    server_tcp_port: int | None = None,
) -> Scenario:
    # truth: (towards the server, towards the client); default: nothing drops.
    forward, reverse = truth or (None, None)
    return line_scenario(
        name=name,
        description=description,
        routers=(r1 or Node(name="r1", role=Role.ROUTER), r2 or Node(name="r2", role=Role.ROUTER)),
        server=server,
        nets=tuple(zip(_V4, _V6, strict=True)),
        mtus=(1500, core_mtu, 1500),
        mtu_b={1: core_mtu_b} if core_mtu_b is not None else {},
        forward=forward,
        reverse=reverse,
        clamp=clamp,
        server_answers=server_answers,
        server_tcp_port=server_tcp_port,
    )


def line_scenario(
    *,
    name: str,
    description: str,
    routers: tuple[Node, ...],
    nets: tuple[tuple[IPv4Network, IPv6Network], ...],
    mtus: tuple[int, ...] | None = None,
    mtu_b: Mapping[int, int] | None = None,
    server: Node | None = None,
    forward: DirectionTruth | None = None,
    reverse: DirectionTruth | None = None,
    clamp: Clamp | None = None,
    server_answers: frozenset[ProbeKind] = frozenset(ProbeKind),
    server_tcp_port: int | None = None,
) -> Scenario:
    """client - routers... - server in a line, one link between each two neighbours.

    Links are named after their ends ("c-r1", "r1-r2", "r2-s").

    Args:
        name: the scenario's name.
        description: one line for `mtuscope lab list`.
        routers: the routers in order from the client.
        nets: the (IPv4, IPv6) prefix of each link, from the client's.
        mtus: each link's MTU (default 1500 each).
        mtu_b: link index -> MTU of its far end, where the two ends differ.
        server: the server node (default: a plain host called "server").
        forward: truth towards the server (default: 1500 all the way, nothing dropped).
        reverse: truth towards the client (the same default).
        clamp: the MSS clamp in the path, if a router's ruleset sets one.
        server_answers: the probe kinds the server answers.
        server_tcp_port: the only TCP port the server answers on, if any.

    Returns:
        The scenario.
    """
    nodes = (
        Node(name="client", role=Role.HOST),
        *routers,
        server or Node(name="server", role=Role.HOST),
    )
    ends = tuple(zip(nodes, nodes[1:], strict=False))
    mtus = mtus or (1500,) * len(ends)
    far = mtu_b or {}
    links = tuple(
        Link(
            name=f"{_SHORT.get(a.name, a.name)}-{_SHORT.get(b.name, b.name)}",
            a=a.name,
            b=b.name,
            mtu=mtu,
            mtu_b=far.get(i),
            v4=v4,
            v6=v6,
        )
        for i, ((a, b), mtu, (v4, v6)) in enumerate(zip(ends, mtus, nets, strict=True))
    )
    return Scenario(
        name=name,
        description=description,
        nodes=nodes,
        links=links,
        client="client",
        server="server",
        forward=forward or _clear(),
        reverse=reverse or _clear(),
        clamp=clamp,
        server_answers=server_answers,
        server_tcp_port=server_tcp_port,
    )


_SHORT = {"client": "c", "server": "s"}
"""How link names abbreviate the two ends of a line."""


def _two_drops() -> Scenario:
    # client - r1 - r2 - r3 - server: the MTU falls to 1480 after r1 and to 1400
    # after r2. Towards the server a probe meets both drops in turn (r1 reports
    # 1480, then r2 reports 1400); back towards the client, r3 reports 1400
    # and the 1480 link never matters.
    return line_scenario(
        name="two-drops",
        description="client-r1-r2-r3-server: 1480 after r1, 1400 after r2; too-big sent",
        routers=tuple(Node(name=f"r{i}", role=Role.ROUTER) for i in (1, 2, 3)),
        nets=(
            (_V4[0], _V6[0]),
            (_V4_CORE2[0], _V6_CORE2[0]),
            (_V4_CORE2[1], _V6_CORE2[1]),
            (_V4[2], _V6[2]),
        ),
        mtus=(1500, 1480, 1400, 1500),
        forward=DirectionTruth(
            path_mtu=1400,
            drop_link="r2-r3",
            too_big_from="r2",
            icmp_withheld=False,
            earlier_drops=(Drop(link="r1-r2", too_big_from="r1", mtu=1480),),
        ),
        reverse=DirectionTruth(
            path_mtu=1400, drop_link="r2-r3", too_big_from="r3", icmp_withheld=False
        ),
    )


def _core_drop(
    mtu: int,
    *,
    withheld: bool = False,
    too_big_mtu: int | None = None,
    learned_v4: int | None = None,
) -> tuple[DirectionTruth, DirectionTruth]:
    """The truth of a chain whose r1-r2 link is `mtu`: each way, the router before
    it is the one that reports (or withholds) the too-big message.

    Returns:
        (towards the server: r1 reports, towards the client: r2 reports).
    """

    def reported_by(router: str) -> DirectionTruth:
        return DirectionTruth(
            path_mtu=mtu,
            drop_link="r1-r2",
            too_big_from=router,
            icmp_withheld=withheld,
            too_big_mtu=too_big_mtu,
            learned_v4=learned_v4,
        )

    return reported_by("r1"), reported_by("r2")


def _clear(mtu: int = 1500) -> DirectionTruth:
    return DirectionTruth(path_mtu=mtu, drop_link=None, too_big_from=None, icmp_withheld=False)


def _vxlan() -> Scenario:
    # The r1-r2 hop is a VXLAN tunnel over an IPv4 underlay: 14 (inner Ethernet)
    # + 8 (VXLAN) + 8 (UDP) + 20 (outer IPv4) = 50 bytes of overhead (RFC 7348 §5),
    # so the overlay carries 1450-byte packets over a 1500-byte veth.
    nodes = (
        Node(name="client", role=Role.HOST),
        Node(name="r1", role=Role.ROUTER),
        Node(name="r2", role=Role.ROUTER),
        Node(name="server", role=Role.HOST),
    )
    links = (
        Link(name="c-r1", a="client", b="r1", mtu=1500, v4=_V4[0], v6=_V6[0]),
        Link(
            name="r1-r2u",
            a="r1",
            b="r2",
            mtu=1500,
            v4=_V4_CORE2[0],
            v6=_V6_CORE2[0],
            routed=False,
        ),
        Link(
            name="r1-r2",
            a="r1",
            b="r2",
            mtu=1450,
            v4=_V4_CORE2[1],
            v6=_V6_CORE2[1],
            kind=LinkKind.VXLAN,
            underlay="r1-r2u",
            vni=4242,
        ),
        Link(name="r2-s", a="r2", b="server", mtu=1500, v4=_V4[2], v6=_V6[2]),
    )
    forward, reverse = _core_drop(1450)
    return Scenario(
        name="vxlan",
        description="r1 and r2 joined by a VXLAN tunnel (1450) over a 1500 veth; too-big sent",
        nodes=nodes,
        links=links,
        client="client",
        server="server",
        forward=forward,
        reverse=reverse,
    )


def _build() -> dict[str, Scenario]:
    scenarios = [
        _chain(
            name="clean",
            description="every link 1500, nothing filtered or rewritten",
        ),
        _chain(
            name="mtu-drop",
            description="the r1-r2 link is 1400; both routers send too-big messages",
            core_mtu=1400,
            truth=_core_drop(1400),
        ),
        _chain(
            # Both routers filter their own too-big messages, so the black hole
            # swallows big packets either way: the client's pings towards the
            # server (dropped at r1) and the server's data towards the client
            # (dropped at r2).
            name="blackhole",
            description="the r1-r2 link is 1400 and both routers withhold their too-big messages",
            core_mtu=1400,
            r1=Node(name="r1", role=Role.ROUTER, nft=WITHHOLD_TOO_BIG),
            r2=Node(name="r2", role=Role.ROUTER, nft=WITHHOLD_TOO_BIG),
            truth=_core_drop(1400, withheld=True),
        ),
        _chain(
            name="clamp",
            description="every link 1500; r1 lowers the MSS of forwarded SYNs to 1300",
            r1=Node(name="r1", role=Role.ROUTER, nft=clamp_mss_ruleset(1300)),
            clamp=Clamp(node="r1", mss=1300),
        ),
        _vxlan(),
        _chain(
            # The black hole of `blackhole`, in front of a server that answers
            # nothing but TCP on one port: no echo reply, no port unreachable,
            # no RST from other ports. Only a TCP probe can reach it.
            name="blackhole-filtered-dst",
            description=f"blackhole, and the server answers only TCP port {FILTERED_PORT}",
            core_mtu=1400,
            r1=Node(name="r1", role=Role.ROUTER, nft=WITHHOLD_TOO_BIG),
            r2=Node(name="r2", role=Role.ROUTER, nft=WITHHOLD_TOO_BIG),
            server=Node(name="server", role=Role.HOST, nft=only_tcp_port_ruleset(FILTERED_PORT)),
            truth=_core_drop(1400, withheld=True),
            server_answers=frozenset({ProbeKind.TCP_SYN}),
            server_tcp_port=FILTERED_PORT,
        ),
        _two_drops(),
        _chain(
            name="small-mss-server",
            description="every link 1500; the server announces an MSS of 512 (route advmss)",
            server=Node(name="server", role=Role.HOST, advmss=512),
        ),
        # A router whose too-big messages carry MTU 0. Measured on Linux 6.x:
        # an IPv4 sender caches the minimum PMTU (net.ipv4.route.min_pmtu, 552,
        # locked); an IPv6 sender ignores a value below 1280 and caches nothing.
        _bad_ptb("bad-ptb", 0, learned_v4=552),
        # ... or 65535, more than any probe: both kernels ignore it.
        _bad_ptb("bad-ptb-large", 65535, learned_v4=None),
        _chain(
            # r2's end of r1-r2 is 1400, r1's 1500. Towards the server r1 sends
            # what fits its own 1500 and r2's veth drops the larger frames
            # without a word. Measured: a veth receives up to 4 bytes over its
            # MTU (the kernel's is_skb_forwardable allows for a VLAN tag), so
            # IP packets of up to 1404 bytes arrive, IPv4 and IPv6 alike. Back
            # towards the client, r2's own 1400 applies and r2 says so.
            name="l2-mismatch",
            description="the r1-r2 link is 1500 at r1's end and 1400 at r2's: a silent drop",
            core_mtu=1500,
            core_mtu_b=1400,
            truth=(
                DirectionTruth(
                    path_mtu=1404,
                    path_mtu_v6=1404,
                    drop_link="r1-r2",
                    too_big_from=None,
                    icmp_withheld=False,
                ),
                _core_drop(1400)[1],
            ),
        ),
    ]
    # The middlebox scenarios of the two-capture-point and per-hop work live in
    # their own module (they carry a relay program); the catalogue is one.
    from mtuscope.lab.middlebox_scenarios import MIDDLEBOX_SCENARIOS

    return {s.name: s for s in (*scenarios, *MIDDLEBOX_SCENARIOS)}


def _bad_ptb(name: str, mtu: int, *, learned_v4: int | None) -> Scenario:
    rules = rewrite_too_big_mtu_ruleset(mtu)
    return _chain(
        name=name,
        description=f"the r1-r2 link is 1400; the routers' too-big messages say MTU {mtu}",
        core_mtu=1400,
        r1=Node(name="r1", role=Role.ROUTER, nft=rules),
        r2=Node(name="r2", role=Role.ROUTER, nft=rules),
        truth=_core_drop(1400, too_big_mtu=mtu, learned_v4=learned_v4),
    )


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(_build())
"""Every declared scenario by name."""


def get_scenario(name: str) -> Scenario:
    """The scenario declared under `name`.

    Args:
        name: a key of `SCENARIOS` ("clean", "mtu-drop", "blackhole", ...).

    Returns:
        The frozen declaration.

    Raises:
        UsageError: no scenario has that name.
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown lab scenario {name!r} (known: {known})") from None
