"""The catalogue of lab scenarios, each a frozen declaration with its truth.

Layer: lab (an edge), but this module is pure data: it builds `Scenario`
values and the nftables ruleset texts they load. It runs nothing. Adding a
scenario means adding a declaration here, nothing else.

Every scenario is a chain client - r1 - r2 - server, numbered from the
documentation prefixes only (RFC 5737, RFC 3849):

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

from mtuscope.errors import UsageError
from mtuscope.lab.topology import (
    Clamp,
    DirectionTruth,
    Link,
    LinkKind,
    Node,
    Role,
    Scenario,
)

# ICMP errors a router sends when a DF packet does not fit the next link:
# RFC 792 type 3 code 4 ("fragmentation needed and DF set", RFC 1191 §4) and
# RFC 4443 §3.2 type 2 (packet too big). Dropping them in the router's own
# output chain makes the router a PMTUD black hole (RFC 2923 §2.1).
WITHHOLD_TOO_BIG = """\
table inet mtuscope {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}
"""


def clamp_mss_ruleset(mss: int) -> str:
    """An nftables ruleset that lowers the MSS option of forwarded SYNs to `mss`.

    Only larger values are rewritten (a clamp never raises an MSS), as iptables'
    TCPMSS `--set-mss` does.

    Args:
        mss: the MSS to write, in bytes.

    Returns:
        The ruleset text for `nft -f`.

    Raises:
        UsageError: `mss` is outside 1..65534.
    """
    if not 1 <= mss <= 65534:
        raise UsageError(f"clamp MSS {mss} outside 1..65534")
    return f"""\
table inet mtuscope {{
  chain forward {{
    type filter hook forward priority mangle; policy accept;
    tcp flags syn tcp option maxseg size {mss + 1}-65535 tcp option maxseg size set {mss}
  }}
}}
"""


_V4 = (IPv4Network("192.0.2.0/24"), IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.0/24"))
_V6 = (
    IPv6Network("2001:db8:0:1::/64"),
    IPv6Network("2001:db8:0:2::/64"),
    IPv6Network("2001:db8:0:3::/64"),
)


def _chain(
    *,
    name: str,
    description: str,
    core_mtu: int = 1500,
    r1: Node | None = None,
    r2: Node | None = None,
    forward: DirectionTruth,
    reverse: DirectionTruth,
    clamp: Clamp | None = None,
) -> Scenario:
    nodes = (
        Node(name="client", role=Role.HOST),
        r1 or Node(name="r1", role=Role.ROUTER),
        r2 or Node(name="r2", role=Role.ROUTER),
        Node(name="server", role=Role.HOST),
    )
    links = (
        Link(name="c-r1", a="client", b="r1", mtu=1500, v4=_V4[0], v6=_V6[0]),
        Link(name="r1-r2", a="r1", b="r2", mtu=core_mtu, v4=_V4[1], v6=_V6[1]),
        Link(name="r2-s", a="r2", b="server", mtu=1500, v4=_V4[2], v6=_V6[2]),
    )
    return Scenario(
        name=name,
        description=description,
        nodes=nodes,
        links=links,
        client="client",
        server="server",
        forward=forward,
        reverse=reverse,
        clamp=clamp,
    )


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
            v4=IPv4Network("198.51.100.0/25"),
            v6=IPv6Network("2001:db8:0:2::/64"),
            routed=False,
        ),
        Link(
            name="r1-r2",
            a="r1",
            b="r2",
            mtu=1450,
            v4=IPv4Network("198.51.100.128/25"),
            v6=IPv6Network("2001:db8:0:4::/64"),
            kind=LinkKind.VXLAN,
            underlay="r1-r2u",
            vni=4242,
        ),
        Link(name="r2-s", a="r2", b="server", mtu=1500, v4=_V4[2], v6=_V6[2]),
    )
    return Scenario(
        name="vxlan",
        description="r1 and r2 joined by a VXLAN tunnel (1450) over a 1500 veth; too-big sent",
        nodes=nodes,
        links=links,
        client="client",
        server="server",
        forward=DirectionTruth(
            path_mtu=1450, drop_link="r1-r2", too_big_from="r1", icmp_withheld=False
        ),
        reverse=DirectionTruth(
            path_mtu=1450, drop_link="r1-r2", too_big_from="r2", icmp_withheld=False
        ),
    )


def _build() -> dict[str, Scenario]:
    scenarios = [
        _chain(
            name="clean",
            description="every link 1500, nothing filtered or rewritten",
            forward=_clear(),
            reverse=_clear(),
        ),
        _chain(
            name="mtu-drop",
            description="the r1-r2 link is 1400; both routers send too-big messages",
            core_mtu=1400,
            forward=DirectionTruth(
                path_mtu=1400, drop_link="r1-r2", too_big_from="r1", icmp_withheld=False
            ),
            reverse=DirectionTruth(
                path_mtu=1400, drop_link="r1-r2", too_big_from="r2", icmp_withheld=False
            ),
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
            forward=DirectionTruth(
                path_mtu=1400, drop_link="r1-r2", too_big_from="r1", icmp_withheld=True
            ),
            reverse=DirectionTruth(
                path_mtu=1400, drop_link="r1-r2", too_big_from="r2", icmp_withheld=True
            ),
        ),
        _chain(
            name="clamp",
            description="every link 1500; r1 lowers the MSS of forwarded SYNs to 1300",
            r1=Node(name="r1", role=Role.ROUTER, nft=clamp_mss_ruleset(1300)),
            forward=_clear(),
            reverse=_clear(),
            clamp=Clamp(node="r1", mss=1300),
        ),
        _vxlan(),
    ]
    return {s.name: s for s in scenarios}


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(_build())
"""Every declared scenario by name."""


def get_scenario(name: str) -> Scenario:
    """The scenario declared under `name`.

    Args:
        name: a key of `SCENARIOS` ("clean", "mtu-drop", "blackhole", "clamp", "vxlan").

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
