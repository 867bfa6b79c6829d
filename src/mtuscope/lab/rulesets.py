"""The nftables rulesets lab routers and servers load: black holes, clamps, filters, NAT.

Layer: lab (an edge), but this module is pure text: each function returns the
ruleset `nft -f` reads, and runs nothing. Scenarios (`scenarios.py`,
`middlebox_scenarios.py`) put them into their nodes' `nft`.
"""

from __future__ import annotations

from mtuscope.errors import UsageError

_U16 = 0xFFFF
"""The largest TCP port and MSS option value (16-bit fields)."""


def table(chain: str, hook: str, *rules: str, policy: str = "accept") -> str:
    """One `table inet mtuscope` holding one base chain (nftables' own syntax).

    Args:
        chain: the chain's name; also the hook it attaches to.
        hook: the chain's type and priority, space-separated: "filter mangle"
            gives ``type filter hook <chain> priority mangle``.
        rules: the rules, one a line.
        policy: what happens to packets no rule decides.

    Returns:
        The ruleset text for `nft -f`.
    """
    kind, _, priority = hook.partition(" ")
    lines = "".join(f"    {rule}\n" for rule in rules)
    return (
        f"table inet mtuscope {{\n  chain {chain} {{\n"
        f"    type {kind} hook {chain} priority {priority}; policy {policy};\n"
        f"{lines}  }}\n}}\n"
    )


def _within(what: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise UsageError(f"{what} {value} outside {lo}..{hi}")


# ICMP errors a router sends when a DF packet does not fit the next link:
# RFC 792 type 3 code 4 ("fragmentation needed and DF set", RFC 1191 §4) and
# RFC 4443 §3.2 type 2 (packet too big). Dropping them in the router's own
# output chain makes the router a PMTUD black hole (RFC 2923 §2.1).
WITHHOLD_TOO_BIG = table(
    "output",
    "filter 0",
    "icmp type destination-unreachable icmp code frag-needed drop",
    "icmpv6 type packet-too-big drop",
)


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
    _within("clamp MSS", mss, 1, _U16 - 1)
    rule = f"tcp flags syn tcp option maxseg size {mss + 1}-{_U16} tcp option maxseg size set {mss}"
    return table("forward", "filter mangle", rule)


def rewrite_too_big_mtu_ruleset(mtu: int) -> str:
    """An nftables ruleset that overwrites the MTU field of the node's own too-big messages.

    The kernel always writes the correct next-hop MTU (RFC 1191 §4, RFC 4443
    §3.2); this makes a router that does not. nftables updates the ICMP
    checksum with the field (incremental update, RFC 1624), so the message
    still arrives intact: only its MTU is useless (0, as RFC 1191 §5's
    old-style routers send, or larger than any probe).

    Args:
        mtu: the value to write, 0..65535.

    Returns:
        The ruleset text for `nft -f`.

    Raises:
        UsageError: `mtu` is outside 0..65535.
    """
    _within("too-big MTU", mtu, 0, _U16)  # the ICMP MTU field, 16 bits in ICMPv4
    return table(
        "output",
        "filter mangle",
        f"icmp type destination-unreachable icmp code frag-needed icmp mtu set {mtu}",
        f"icmpv6 type packet-too-big icmpv6 mtu set {mtu}",
    )


def only_tcp_port_ruleset(port: int) -> str:
    """An nftables ruleset for a host that accepts new traffic only on one TCP port.

    Everything else that is new is dropped without an answer: ICMP echo,
    UDP (so no port unreachable either), TCP to other ports (no RST). Replies
    and errors of the host's own connections pass (conntrack), and so does
    IPv6 neighbour discovery, without which nothing would reach the host at all.

    Args:
        port: the TCP port left open.

    Returns:
        The ruleset text for `nft -f`.

    Raises:
        UsageError: `port` is outside 1..65535.
    """
    _within("TCP port", port, 1, _U16)
    return table(
        "input",
        "filter 0",
        "iif lo accept",
        "ct state established,related accept",
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
        f"tcp dport {port} accept",
        policy="drop",
    )


def masquerade_ruleset(out_interface: str) -> str:
    """nftables: source NAT of everything leaving `out_interface` to the router's address.

    Args:
        out_interface: the interface towards the server.

    Returns:
        The ruleset text for `nft -f`.
    """
    return table("postrouting", "nat srcnat", f'oifname "{out_interface}" masquerade')


def redirect_ruleset(port: int, to_port: int) -> str:
    """nftables: forwarded TCP to `port` goes to a local listener on `to_port` instead.

    Args:
        port: the service port clients connect to.
        to_port: where the relay listens.

    Returns:
        The ruleset text for `nft -f`.
    """
    return table("prerouting", "nat dstnat", f"tcp dport {port} redirect to :{to_port}")
