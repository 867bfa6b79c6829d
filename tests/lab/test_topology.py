"""Tests of the pure lab declarations: scenarios, addresses, routes and truth."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

import pytest

import mtuscope.lab as lab_pkg
from mtuscope.errors import UsageError
from mtuscope.lab import (
    SCENARIOS,
    WITHHOLD_TOO_BIG,
    Link,
    LinkKind,
    Node,
    Role,
    Scenario,
    clamp_mss_ruleset,
    get_scenario,
)
from mtuscope.lab.topology import DOC_PREFIX_V6, DOC_PREFIXES_V4, DirectionTruth

ALL = sorted(SCENARIOS)


def test_exports_sorted_and_present() -> None:
    assert lab_pkg.__all__ == sorted(lab_pkg.__all__)
    for name in lab_pkg.__all__:
        assert hasattr(lab_pkg, name), name


def test_catalogue_has_the_first_scenarios() -> None:
    assert {"clean", "mtu-drop", "blackhole", "clamp", "vxlan"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", ALL)
def test_every_address_is_a_documentation_address(name: str) -> None:
    sc = get_scenario(name)
    for link in sc.links:
        for node in link.ends():
            v4 = link.address(node, 4)
            v6 = link.address(node, 6)
            assert any(v4 in p for p in DOC_PREFIXES_V4), (link.name, v4)
            assert v6 in DOC_PREFIX_V6, (link.name, v6)


@pytest.mark.parametrize("name", ALL)
def test_truth_path_mtu_is_the_smallest_routed_link_on_the_path(name: str) -> None:
    sc = get_scenario(name)
    path = [sc.client, *sc.hops, sc.server]
    mtus = []
    for a, b in zip(path, path[1:], strict=False):
        (link,) = [x for x in sc.links if x.routed and set(x.ends()) == {a, b}]
        mtus.append((min(link.mtu_of(a), link.mtu_of(b)), link.name))
    smallest, where = min(mtus)
    for truth in (sc.forward, sc.reverse):
        assert truth.path_mtu == smallest
        if smallest < 1500:
            assert truth.drop_link == where
            assert truth.too_big_from in sc.hops
        else:
            assert truth.drop_link is None


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
