"""The nftables rulesets lab routers and servers load: black holes, clamps, filters, NAT.

Layer: lab (an edge), but this module is pure text: each function returns the
ruleset `nft -f` reads, and runs nothing. Scenarios (`scenarios.py`,
`middlebox_scenarios.py`) put them into their nodes' `nft`.
"""

from __future__ import annotations

from mtuscope.errors import UsageError

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
    if not 0 <= mtu <= 65535:
        raise UsageError(f"too-big MTU {mtu} outside 0..65535")
    return f"""\
table inet mtuscope {{
  chain output {{
    type filter hook output priority mangle; policy accept;
    icmp type destination-unreachable icmp code frag-needed icmp mtu set {mtu}
    icmpv6 type packet-too-big icmpv6 mtu set {mtu}
  }}
}}
"""


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
    if not 1 <= port <= 65535:
        raise UsageError(f"TCP port {port} outside 1..65535")
    return f"""\
table inet mtuscope {{
  chain input {{
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept
    tcp dport {port} accept
  }}
}}
"""


def masquerade_ruleset(out_interface: str) -> str:
    """nftables: source NAT of everything leaving `out_interface` to the router's address.

    Args:
        out_interface: the interface towards the server.

    Returns:
        The ruleset text for `nft -f`.
    """
    return f"""\
table inet mtuscope {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{out_interface}" masquerade
  }}
}}
"""


def redirect_ruleset(port: int, to_port: int) -> str:
    """nftables: forwarded TCP to `port` goes to a local listener on `to_port` instead.

    Args:
        port: the service port clients connect to.
        to_port: where the relay listens.

    Returns:
        The ruleset text for `nft -f`.
    """
    return f"""\
table inet mtuscope {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    tcp dport {port} redirect to :{to_port}
  }}
}}
"""
