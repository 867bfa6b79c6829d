"""Tests of the pure lab declarations: scenarios, addresses, routes and truth."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

import pytest

import mtuscope.lab as lab_pkg
from mtuscope.errors import UsageError
from mtuscope.lab import (
    FILTERED_PORT,
    SCENARIOS,
    WITHHOLD_TOO_BIG,
    Link,
    LinkKind,
    Node,
    ProbeKind,
    Role,
    Scenario,
    clamp_mss_ruleset,
    get_scenario,
    only_tcp_port_ruleset,
    rewrite_too_big_mtu_ruleset,
)
from mtuscope.lab.topology import DOC_PREFIX_V6, DOC_PREFIXES_V4, DirectionTruth

ALL = sorted(SCENARIOS)


def test_exports_sorted_and_present() -> None:
    assert lab_pkg.__all__ == sorted(lab_pkg.__all__)
    for name in lab_pkg.__all__:
        assert hasattr(lab_pkg, name), name


def test_catalogue_has_the_issue_scenarios() -> None:
    assert {
        "clean",
        "mtu-drop",
        "blackhole",
        "blackhole-filtered-dst",
        "two-drops",
        "vxlan",
        "clamp",
        "small-mss-server",
        "bad-ptb",
        "l2-mismatch",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("name", ALL)
def test_every_address_is_a_documentation_address(name: str) -> None:
    sc = get_scenario(name)
    for link in sc.links:
        for node in link.ends():
            v4 = link.address(node, 4)
            v6 = link.address(node, 6)
            assert any(v4 in p for p in DOC_PREFIXES_V4), (link.name, v4)
            assert v6 in DOC_PREFIX_V6, (link.name, v6)


VETH_RX_SLACK = 4
"""Bytes a veth receives beyond its own MTU (measured; see the l2-mismatch scenario)."""


def _expected_drops(sc: Scenario, *, reverse: bool) -> list[tuple[str, str | None, int]]:
    """Walk the path and list every MTU drop as (link, too-big sender or None, MTU)."""
    path = sc.path(reverse=reverse)
    drops: list[tuple[str, str | None, int]] = []
    smallest: int | None = None
    for a, b in zip(path, path[1:], strict=False):
        (link,) = [x for x in sc.links if x.routed and set(x.ends()) == {a, b}]
        sent = link.mtu_of(a)
        if smallest is None:
            smallest = sent  # the sending host's own MTU: a local limit, not a drop
        elif sent < smallest:
            drops.append((link.name, a, sent))
            smallest = sent
        received = link.mtu_of(b) + VETH_RX_SLACK
        if received < smallest:
            drops.append((link.name, None, received))  # layer-2 mismatch: silent
            smallest = received
    return drops


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reverse", [False, True])
def test_declared_truth_follows_from_the_links(name: str, reverse: bool) -> None:
    sc = get_scenario(name)
    truth = sc.reverse if reverse else sc.forward
    drops = _expected_drops(sc, reverse=reverse)
    if not drops:
        assert truth.drop_link is None and truth.too_big_from is None
        assert truth.pmtu(4) == truth.pmtu(6) == 1500
        return
    *earlier, (link, sender, mtu) = drops
    assert (truth.drop_link, truth.too_big_from, truth.pmtu(4), truth.pmtu(6)) == (
        link,
        sender,
        mtu,
        mtu,
    )
    assert [(d.link, d.too_big_from, d.mtu) for d in truth.earlier_drops] == earlier
    if sender is not None:
        assert 1 <= sc.hop_index(sender, reverse=reverse) <= len(sc.hops)


@pytest.mark.parametrize("name", ALL)
def test_routes_reach_every_routed_prefix_through_a_neighbour(name: str) -> None:
    sc = get_scenario(name)
    for node in sc.nodes:
        attached = {link.name for link in sc.links_of(node.name)}
        routed = {(r.prefix, r.dev) for r in sc.routes(node.name)}
        for link in sc.links:
            if link.name in attached or not link.routed:
                continue
            prefixes = {p for p, _ in routed}
            assert link.v4 in prefixes and link.v6 in prefixes, (node.name, link.name)
        for route in sc.routes(node.name):
            via_link = sc.link(route.dev)
            assert via_link.routed
            assert route.via in (via_link.v4 if route.via.version == 4 else via_link.v6)
            assert route.via != via_link.address(node.name, route.via.version)


def test_chain_addresses_and_hops() -> None:
    sc = get_scenario("mtu-drop")
    assert sc.hops == ("r1", "r2")
    assert sc.address("client", 4) == ip_address("192.0.2.1")
    assert sc.address("server", 4) == ip_address("203.0.113.2")
    assert sc.address("server", 6) == ip_address("2001:db8:0:3::2")
    routes = {str(r.prefix): (str(r.via), r.dev) for r in sc.routes("client")}
    assert routes["203.0.113.0/24"] == ("192.0.2.2", "c-r1")
    assert routes["2001:db8:0:3::/64"] == ("2001:db8:0:1::2", "c-r1")


def test_vxlan_routes_over_the_tunnel_not_the_underlay() -> None:
    sc = get_scenario("vxlan")
    tunnel = sc.link("r1-r2")
    assert tunnel.kind is LinkKind.VXLAN and tunnel.underlay == "r1-r2u"
    devs = {r.dev for r in sc.routes("r1")}
    assert devs == {"r1-r2"}
    assert all(str(r.prefix) != "198.51.100.0/25" for n in sc.nodes for r in sc.routes(n.name))


def test_blackhole_and_clamp_carry_their_rules() -> None:
    bh = get_scenario("blackhole")
    assert bh.node("r1").nft == WITHHOLD_TOO_BIG and bh.node("r2").nft == WITHHOLD_TOO_BIG
    assert bh.forward.icmp_withheld and bh.reverse.icmp_withheld
    cl = get_scenario("clamp")
    assert cl.clamp is not None and cl.clamp.mss == 1300
    assert "maxseg size set 1300" in cl.node(cl.clamp.node).nft


def test_clamp_ruleset_bounds() -> None:
    assert "1301-65535" in clamp_mss_ruleset(1300)
    with pytest.raises(UsageError):
        clamp_mss_ruleset(0)


def test_unknown_scenario_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="known: "):
        get_scenario("no-such-lab")


def _link(**kw: object) -> Link:
    base: dict[str, object] = {
        "name": "x",
        "a": "p",
        "b": "q",
        "mtu": 1500,
        "v4": IPv4Network("192.0.2.0/24"),
        "v6": IPv6Network("2001:db8::/64"),
    }
    base.update(kw)
    return Link(**base)  # type: ignore[arg-type]  # test builds kwargs dynamically


@pytest.mark.parametrize(
    "kw",
    [
        {"v4": IPv4Network("198.18.0.0/24")},
        {"v4": IPv4Network("100.64.0.0/24")},
        {"v6": IPv6Network("fd00::/64")},
        {"mtu": 67},
        {"mtu_b": 65536},
        {"name": "a-name-longer-than-15"},
        {"b": "p"},
        {"kind": LinkKind.VXLAN},
        {"v4": IPv4Network("192.0.2.0/31")},
    ],
)
def test_link_rejects_bad_declarations(kw: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        _link(**kw)


def test_scenario_rejects_unreachable_server() -> None:
    clear = DirectionTruth(path_mtu=1500, drop_link=None, too_big_from=None, icmp_withheld=False)
    with pytest.raises(UsageError, match="no path"):
        Scenario(
            name="broken",
            description="server on an island",
            nodes=(
                Node(name="client", role=Role.HOST),
                Node(name="server", role=Role.HOST),
                Node(name="r1", role=Role.ROUTER),
            ),
            links=(_link(name="c-r1", a="client", b="r1"),),
            client="client",
            server="server",
            forward=clear,
            reverse=clear,
        )


def test_link_end_mtus() -> None:
    same = _link()
    assert same.mtu_of("p") == same.mtu_of("q") == 1500
    mismatch = _link(mtu_b=1400)
    assert (mismatch.mtu_of("p"), mismatch.mtu_of("q")) == (1500, 1400)
    with pytest.raises(UsageError):
        mismatch.mtu_of("elsewhere")


def test_two_drops_hops_and_too_big_sources() -> None:
    sc = get_scenario("two-drops")
    assert sc.hops == ("r1", "r2", "r3")
    assert sc.path(reverse=True) == ("server", "r3", "r2", "r1", "client")
    assert [sc.hop_index(r) for r in sc.hops] == [1, 2, 3]
    assert sc.hop_index("r3", reverse=True) == 1
    # Each router answers from its address on the link back towards the sender.
    assert str(sc.too_big_source("r1", 4)) == "192.0.2.2"
    assert str(sc.too_big_source("r2", 4)) == "198.51.100.2"
    assert str(sc.too_big_source("r2", 6)) == "2001:db8:0:2::2"
    assert str(sc.too_big_source("r3", 4, reverse=True)) == "203.0.113.1"
    assert sc.address("server", 4) == ip_address("203.0.113.2")
    with pytest.raises(UsageError):
        sc.hop_index("client")


def test_direction_truth_per_family_and_too_big_content() -> None:
    plain = get_scenario("mtu-drop").forward
    assert plain.too_big_sent and plain.advertised_mtu() == 1400
    assert plain.learned(4) == plain.learned(6) == 1400
    bad = get_scenario("bad-ptb").forward
    assert bad.advertised_mtu() == 0 and bad.pmtu(6) == 1400
    assert (bad.learned(4), bad.learned(6)) == (552, None)
    large = get_scenario("bad-ptb-large").reverse
    assert large.advertised_mtu() == 65535 and large.learned(4) is None
    hole = get_scenario("blackhole").forward
    assert not hole.too_big_sent and hole.advertised_mtu() is None and hole.learned(6) is None
    silent = get_scenario("l2-mismatch").forward
    assert silent.drop_link == "r1-r2" and not silent.too_big_sent
    assert (silent.pmtu(4), silent.pmtu(6)) == (1404, 1404)
    with pytest.raises(UsageError):
        silent.pmtu(5)


def test_server_mss_and_answers() -> None:
    assert (get_scenario("clean").server_mss(4), get_scenario("clean").server_mss(6)) == (
        1460,
        1440,
    )
    small = get_scenario("small-mss-server")
    assert (small.server_mss(4), small.server_mss(6)) == (512, 512)
    assert small.node("server").advmss == 512
    assert get_scenario("clean").server_answers == frozenset(ProbeKind)
    filtered = get_scenario("blackhole-filtered-dst")
    assert filtered.server_answers == {ProbeKind.TCP_SYN}
    assert filtered.server_tcp_port == FILTERED_PORT
    assert f"tcp dport {FILTERED_PORT} accept" in filtered.node("server").nft
    assert filtered.node("r1").nft == WITHHOLD_TOO_BIG
    with pytest.raises(UsageError):
        small.server_mss(5)


def test_new_rulesets_and_bounds() -> None:
    assert "icmp mtu set 0" in rewrite_too_big_mtu_ruleset(0)
    assert "icmpv6 mtu set 65535" in rewrite_too_big_mtu_ruleset(65535)
    assert get_scenario("bad-ptb").node("r1").nft == rewrite_too_big_mtu_ruleset(0)
    for bad in (-1, 65536):
        with pytest.raises(UsageError):
            rewrite_too_big_mtu_ruleset(bad)
    for port in (0, 65536):
        with pytest.raises(UsageError):
            only_tcp_port_ruleset(port)
    with pytest.raises(UsageError):
        Node(name="h", role=Role.HOST, advmss=0)
    base = get_scenario("clean")
    with pytest.raises(UsageError, match="TCP port"):
        Scenario(
            name="x",
            description="x",
            nodes=base.nodes,
            links=base.links,
            client="client",
            server="server",
            forward=base.forward,
            reverse=base.reverse,
            server_tcp_port=0,
        )
