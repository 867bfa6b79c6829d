"""The reverse question: which encapsulation stacks turn one MTU into another?

Layer: calc/. Pure arithmetic over a fixed catalogue; no I/O. The active hop
trace and the capture analysis call `explain_mtu` to say "the drop to 1450 at
hop 3 looks like VXLAN over IPv4".

How common a stack is cannot be cited from an RFC: the `commonness` figures
below are an editorial ranking (consumer PPPoE and data-centre VXLAN first,
exotic combinations last), kept in one table so it is easy to argue with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mtuscope.calc.layers import Layer
from mtuscope.calc.stack import compute, parse_layers
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET as MAX_MTU
from mtuscope.wire.sizes import MIN_MTU


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """One stack that produces the observed MTU."""

    stack: tuple[str, ...]
    """Canonical layer specs, outer to inner."""
    overhead: int
    """from_mtu - resulting MTU, bytes."""
    mtu: int
    """The MTU the stack leaves (equals the one asked about)."""
    label: str
    """For people: "VXLAN over IPv4"."""
    commonness: int
    """Editorial rank 1..100, higher is seen more often."""
    reference: str
    """Where the layer sizes come from."""
    difference: int = 0
    """`mtu` less the MTU asked about, bytes: 0 for an exact match; for a nearest stack
    (`nearest_stacks`), negative when the stack leaves less than was observed."""

    @property
    def how_common(self) -> str:
        """A word for `commonness`."""
        if self.commonness >= 70:
            return "very common"
        if self.commonness >= 40:
            return "common"
        if self.commonness >= 20:
            return "uncommon"
        return "rare"


# (specs, label, commonness). Single layers and well-known combinations.
_SINGLE: tuple[tuple[str, str, int], ...] = (
    ("pppoe", "PPPoE (DSL/FTTH access)", 95),
    ("vxlan", "VXLAN over IPv4", 90),
    ("gre", "GRE over IPv4", 88),
    ("wireguard", "WireGuard over IPv4", 80),
    ("wireguard:ipv6", "WireGuard over IPv6 (Linux default MTU 1420)", 82),
    ("ipsec-tunnel:aes-cbc-sha1", "IPsec ESP tunnel, AES-CBC/SHA1", 75),
    ("ipsec-tunnel:aes-cbc-sha256", "IPsec ESP tunnel, AES-CBC/SHA256", 72),
    ("ipsec-tunnel:aes-gcm-16", "IPsec ESP tunnel, AES-GCM", 74),
    ("ipsec-tunnel:aes-cbc-sha1:natt", "IPsec ESP tunnel with NAT-T, AES-CBC/SHA1", 65),
    ("ipsec-tunnel:aes-cbc-sha256:natt", "IPsec ESP tunnel with NAT-T, AES-CBC/SHA256", 62),
    ("ipsec-tunnel:aes-gcm-16:natt", "IPsec ESP tunnel with NAT-T, AES-GCM", 64),
    ("ipsec-tunnel:chacha20-poly1305", "IPsec ESP tunnel, ChaCha20-Poly1305", 30),
    ("ipsec-transport:aes-cbc-sha1 gre", "GRE over IPsec transport, AES-CBC/SHA1", 60),
    ("ipsec-transport:aes-gcm-16 gre", "GRE over IPsec transport, AES-GCM", 55),
    ("ipsec-tunnel:aes-cbc-sha1 gre", "GRE over IPsec tunnel, AES-CBC/SHA1", 50),
    ("ipsec-tunnel:aes-gcm-16 gre", "GRE over IPsec tunnel, AES-GCM", 48),
    ("mpls:1", "MPLS, one label", 45),
    ("mpls:2", "MPLS, two labels (L3VPN)", 50),
    ("mpls:3", "MPLS, three labels", 25),
    ("gre:key", "GRE with key over IPv4", 40),
    ("gre:ipv6", "GRE over IPv6", 30),
    ("gre:eth", "GRE TAP (Ethernet over GRE) over IPv4", 25),
    ("ipip", "IP-in-IP", 40),
    ("6in4", "6in4 tunnel (tunnel brokers)", 55),
    ("4in6", "4in6 tunnel (DS-Lite)", 45),
    ("ip6tnl", "IPv6 tunnel with encapsulation limit (Linux ip6tnl)", 25),
    ("vxlan:ipv6", "VXLAN over IPv6", 45),
    ("geneve", "Geneve over IPv4", 50),
    ("geneve:ipv6", "Geneve over IPv6", 25),
    ("gtpu", "GTP-U over IPv4 (mobile core)", 50),
    ("gtpu:5g", "GTP-U over IPv4, 5G PDU session", 40),
    ("l2tpv2", "L2TPv2 over IPv4", 45),
    ("l2tpv2:length", "L2TPv2 with length field (Linux pppol2tp default)", 40),
    ("l2tpv3", "L2TPv3 Ethernet pseudowire over IP", 25),
    ("l2tpv3:udp", "L2TPv3 Ethernet pseudowire over UDP", 20),
    ("openvpn:aes-256-gcm", "OpenVPN UDP, AES-256-GCM", 55),
    ("openvpn:aes-256-cbc", "OpenVPN UDP, AES-256-CBC/SHA1", 35),
    ("openvpn:aes-256-gcm:tap", "OpenVPN UDP tap, AES-256-GCM", 20),
    ("ah", "IPsec AH transport, SHA1", 10),
    ("srv6:1", "SRv6, one segment", 20),
    ("srv6:2", "SRv6, two segments", 15),
    ("srv6:1:red", "SRv6 H.Encaps.Red, one segment (no SRH)", 20),
)

# Access or transport layers that commonly sit under a tunnel.
_UNDER: tuple[tuple[str, str, float], ...] = (
    ("pppoe", "PPPoE", 0.6),
    ("mpls:2", "MPLS (2 labels)", 0.3),
)


def _catalogue() -> tuple[tuple[tuple[Layer, ...], str, int], ...]:
    rows: list[tuple[tuple[str, ...], str, int]] = []
    for specs, label, rank in _SINGLE:
        rows.append((tuple(specs.split()), label, rank))
    for under, under_label, factor in _UNDER:
        for specs, label, rank in _SINGLE:
            if specs.split()[0] in ("pppoe", "mpls:1", "mpls:2", "mpls:3"):
                continue
            rows.append(
                ((under, *specs.split()), f"{label} over {under_label}", int(rank * factor))
            )
    return tuple((parse_layers(specs), label, rank) for specs, label, rank in rows)


_CATALOGUE = _catalogue()


def explain_mtu(mtu: int, *, from_mtu: int = 1500, limit: int = 10) -> tuple[Explanation, ...]:
    """The known stacks that turn `from_mtu` into exactly `mtu`, most common first.

    Args:
        mtu: the observed path MTU, or the size a drop came down to.
        from_mtu: the MTU before the drop (the link MTU).
        limit: at most this many explanations.

    Returns:
        Explanations, most common first (ties: fewer layers first). Empty when
        no catalogued stack matches, or when mtu == from_mtu.

    Raises:
        UsageError: MTUs out of range or mtu above from_mtu.
    """
    if not MIN_MTU[4] <= from_mtu <= MAX_MTU:
        raise UsageError(f"MTU before the drop {from_mtu} is out of range {MIN_MTU[4]}..{MAX_MTU}")
    if not MIN_MTU[4] <= mtu <= from_mtu:
        raise UsageError(
            f"MTU {mtu} must lie between {MIN_MTU[4]} and the MTU before it, {from_mtu}"
        )
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    ranked = sorted(
        (e for e in _fits(from_mtu) if e.mtu == mtu),
        key=lambda e: (-e.commonness, len(e.stack), e.stack),
    )
    return tuple(replace(e, overhead=from_mtu - mtu) for e in ranked[:limit])


def nearest_stacks(mtu: int, *, from_mtu: int = 1500, limit: int = 3) -> tuple[Explanation, ...]:
    """The common stacks whose MTU over `from_mtu` lies nearest `mtu`, when none matches exactly.

    Only stacks at least "common" (`commonness` 40 and up) are offered, so that a value
    no stack explains is compared with what people actually run, not with an exotic
    combination that happens to land a byte away.

    Args:
        mtu: the observed MTU.
        from_mtu: the MTU before the drop.
        limit: at most this many.

    Returns:
        Explanations with `difference` = the stack's MTU less `mtu`, nearest first
        (ties: more common first). Empty when a stack matches `mtu` exactly.

    Raises:
        UsageError: as `explain_mtu`.
    """
    if explain_mtu(mtu, from_mtu=from_mtu, limit=1):
        return ()
    near = sorted(
        (e for e in _fits(from_mtu) if e.commonness >= NEAREST_MIN_COMMONNESS),
        key=lambda e: (abs(e.mtu - mtu), -e.commonness, len(e.stack), e.stack),
    )
    return tuple(replace(e, difference=e.mtu - mtu) for e in near[:limit])


NEAREST_MIN_COMMONNESS = 40
"""Stacks offered as the nearest to an unexplained MTU are at least this common."""


def _fits(from_mtu: int) -> list[Explanation]:
    """Every catalogued stack that fits over `from_mtu`, with the MTU it leaves."""
    found: dict[tuple[str, ...], Explanation] = {}
    for layers, label, rank in _CATALOGUE:
        # 6in4 carries IPv6, which needs 1280 inside; everything else is checked for IPv4.
        inner = 6 if layers[-1].name == "6in4" else 4
        try:
            result = compute(from_mtu, layers, inner_family=inner)
        except UsageError:
            continue  # the stack does not fit over this link at all
        stack = tuple(layer.name for layer in layers)
        found[stack] = Explanation(  # the catalogue holds each stack once (tested)
            stack=stack,
            overhead=from_mtu - result.ip_mtu,
            mtu=result.ip_mtu,
            label=label,
            commonness=rank,
            reference="; ".join(dict.fromkeys(r.reference for r in result.layers)),
        )
    return list(found.values())
