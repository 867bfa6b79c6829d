"""Building a scenario on the kernel: namespaces, links, addresses, routes, rules.

Layer: lab (an edge). One function, `build`, turns a `Scenario` declaration into
`ip`, `sysctl`, `ethtool` and `nft` commands run inside the scenario's own
namespaces. It creates namespaces (reporting each one as it appears, so the
caller can remove a half-built lab), and never configures anything outside them.
Tearing down is not its job (see `Lab.down`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence

from mtuscope.errors import LabError
from mtuscope.lab.netns import run
from mtuscope.lab.topology import LinkKind, Role, Scenario

# Settings every node gets. ICMP rate limits off so every too-big is sent (the
# default 1 s token bucket would make tests flaky); DAD off so IPv6 addresses
# work at once instead of after ~1 s of tentative state; MTU probing off
# (RFC 4821 would let TCP escape a black hole, and the lab wants the classic one
# unless a scenario asks otherwise).
_COMMON_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("net.ipv4.icmp_ratelimit", "0"),
    ("net.ipv6.icmp.ratelimit", "0"),
    ("net.ipv6.conf.all.accept_dad", "0"),
    ("net.ipv6.conf.default.accept_dad", "0"),
    ("net.ipv6.conf.all.accept_ra", "0"),
    ("net.ipv6.conf.default.accept_ra", "0"),
    ("net.ipv4.tcp_mtu_probing", "0"),
)
_ROLE_SYSCTLS: Mapping[Role, tuple[tuple[str, str], ...]] = {
    Role.ROUTER: (("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1")),
    Role.HOST: (("net.ipv4.ip_forward", "0"), ("net.ipv6.conf.all.forwarding", "0")),
}
# Offloads that make a capture on the sending host show one super-segment
# instead of the wire-sized packets (TSO/GSO), or merge them on receive (GRO);
# `tx` (checksum offload) off too, so captured packets carry real checksums.
_OFFLOADS = ("tx", "off", "tso", "off", "gso", "off", "gro", "off")

_UP_WAIT = 3.0
"""Seconds to wait for every interface to come up after the build."""


def build(
    scenario: Scenario,
    *,
    namespace: Callable[[str], str],
    on_created: Callable[[str], None],
    use_ethtool: bool | None = None,
) -> bool:
    """Create and configure every namespace, link, route and ruleset of `scenario`.

    Args:
        scenario: the declaration.
        namespace: maps a node name to its (unique, `mtus-` prefixed) namespace name.
        on_created: called with each namespace name right after it exists.
        use_ethtool: offloads off with `ethtool -K` (True), with the `ip link`
            fallback (False), or with ethtool when it is installed (None).

    Returns:
        True when ethtool turned the offloads off, False when the fallback did.

    Raises:
        LabError: a command failed, or the links did not come up in time.
    """
    ethtool = shutil.which("ethtool") is not None if use_ethtool is None else use_ethtool
    _Builder(scenario, namespace).run(on_created, ethtool=ethtool)
    return ethtool


class _Builder:
    def __init__(self, scenario: Scenario, namespace: Callable[[str], str]) -> None:
        self.sc = scenario
        self.namespace = namespace

    def exec(self, node: str, argv: Sequence[str], *, input: str | None = None) -> str:
        return run(["ip", "netns", "exec", self.namespace(node), *argv], input=input).stdout

    def run(self, on_created: Callable[[str], None], *, ethtool: bool) -> None:
        sc = self.sc
        for node in sc.nodes:
            ns = self.namespace(node.name)
            run(["ip", "netns", "add", ns])
            on_created(ns)
            # Sysctls first: `default.accept_dad=0` must hold before links appear.
            settings = (*_COMMON_SYSCTLS, *_ROLE_SYSCTLS[node.role], *node.sysctls)
            self.exec(node.name, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings)])
            self.exec(node.name, ["ip", "link", "set", "lo", "up"])
        for link in sc.links:
            if link.kind is LinkKind.VETH:
                run(
                    ["ip", "link", "add", link.name, "netns", self.namespace(link.a),
                     "type", "veth", "peer", "name", link.name, "netns", self.namespace(link.b)]
                )  # fmt: skip
            for end in link.ends():
                if link.kind is LinkKind.VXLAN:
                    self.add_vxlan(end, link.name)
                self.configure_end(end, link.name, offloads=ethtool)
        for node in sc.nodes:
            # advmss is a route metric: every route of the node carries it, the
            # connected ones (replaced) as well as the static ones.
            mss = [] if node.advmss is None else ["advmss", str(node.advmss)]
            for route in sc.routes(node.name):
                family = "-6" if route.prefix.version == 6 else "-4"
                self.exec(
                    node.name,
                    ["ip", family, "route", "add", str(route.prefix),
                     "via", str(route.via), "dev", route.dev, *mss],
                )  # fmt: skip
            if mss:
                for link in sc.links_of(node.name):
                    self.exec(
                        node.name,
                        ["ip", "-4", "route", "replace", str(link.v4), "dev", link.name,
                         "proto", "kernel", "scope", "link",
                         "src", str(link.address(node.name, 4)), *mss],
                    )  # fmt: skip
                    self.exec(
                        node.name,
                        ["ip", "-6", "route", "replace", str(link.v6), "dev", link.name,
                         "proto", "kernel", "metric", "256", *mss],
                    )  # fmt: skip
            if node.nft:
                self.exec(node.name, ["nft", "-f", "-"], input=node.nft)
        self.wait_up()

    def wait_up(self) -> None:
        # Wait, bounded, until every interface is operationally up. Carrier
        # (LOWER_UP) comes at once, but the operational state follows only when
        # the kernel's link watcher runs (up to a second later), and IPv6 does not
        # use an interface before that: a first probe would be lost in neighbour
        # discovery.
        deadline = time.monotonic() + _UP_WAIT
        # (A VXLAN device has no carrier of its own: it says state UNKNOWN.)
        for node in self.sc.nodes:
            want = {
                link.name: " state UP " if link.kind is LinkKind.VETH else " state UNKNOWN "
                for link in self.sc.links_of(node.name)
            }
            while True:
                out = self.exec(node.name, ["ip", "-o", "link", "show", "up"])
                states = {
                    line.split(":")[1].strip().split("@")[0]: line for line in out.splitlines()
                }
                if all(want[name] in states.get(name, "") for name in want):
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"links not up in {self.namespace(node.name)}: {out.strip()}")
                time.sleep(0.02)

    def add_vxlan(self, node: str, name: str) -> None:
        link = self.sc.link(name)
        assert link.underlay is not None  # Link.__post_init__ guarantees it for VXLAN
        under = self.sc.link(link.underlay)
        local = under.address(node, 4)
        remote = under.address(under.peer(node), 4)
        self.exec(
            node,
            ["ip", "link", "add", name, "type", "vxlan", "id", str(link.vni),
             "local", str(local), "remote", str(remote), "dstport", "4789",
             "dev", under.name],
        )  # fmt: skip

    def configure_end(self, node: str, name: str, *, offloads: bool) -> None:
        link = self.sc.link(name)
        self.exec(node, ["ip", "link", "set", name, "mtu", str(link.mtu_of(node))])
        if link.kind is LinkKind.VETH:
            if offloads:
                self.exec(node, ["ethtool", "-K", name, *_OFFLOADS])
            else:
                # Without ethtool, the nearest `ip link` can do: at most one
                # segment per GSO packet, so no super-segments reach a capture.
                self.exec(node, ["ip", "link", "set", name, "gso_max_segs", "1"])
        for family, prefix in ((4, link.v4), (6, link.v6)):
            addr = f"{link.address(node, family)}/{prefix.prefixlen}"
            extra = ["nodad"] if family == 6 else []
            self.exec(node, ["ip", f"-{family}", "addr", "add", addr, "dev", name, *extra])
        self.exec(node, ["ip", "link", "set", name, "up"])
