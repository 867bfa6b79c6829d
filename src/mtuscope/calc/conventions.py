"""Values people configure by convention, not derived from a stack: MTUs and MSS clamps.

Layer: calc/. A fixed table and lookups; no I/O. An MSS of 1360 or an MTU of
1400 matches no encapsulation's arithmetic exactly, yet is seen everywhere: it
is what a vendor's guide or a product's default tells people to type. Naming
the convention ("1360 = `ip tcp adjust-mss 1360` on a 1400-byte tunnel, Cisco's
guidance for GRE over IPsec and DMVPN") is what lets a reader recognise the box
that set it. Each row cites where the value comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.calc.stack import mss_for


@dataclass(frozen=True, slots=True, kw_only=True)
class Convention:
    """One configured value and where it comes from."""

    label: str
    """For people: "Cisco tunnel guidance (GRE over IPsec, DMVPN)"."""
    config: str
    """The configuration line(s) as typed: "ip mtu 1400 / ip tcp adjust-mss 1360"."""
    mtu: int | None
    """The IP MTU the convention sets, bytes (None when it sets only an MSS)."""
    mss_ipv4: int | None
    """The IPv4 MSS it sets or implies (MTU - 40), bytes."""
    mss_ipv6: int | None
    """The IPv6 MSS it sets or implies (MTU - 60), bytes; None when it sets none."""
    source: str
    """Where the value is documented."""


def _implied(mtu: int) -> tuple[int, int | None]:
    return mss_for(mtu)


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        label="Cisco tunnel guidance (GRE over IPsec, DMVPN)",
        config="ip mtu 1400 / ip tcp adjust-mss 1360",
        mtu=1400,
        mss_ipv4=1360,
        mss_ipv6=_implied(1400)[1],
        source=(
            "Cisco, Resolve IPv4 Fragmentation, MTU, MSS, and PMTUD Issues with GRE and IPsec "
            "(Document ID 25885); Cisco DMVPN Configuration Guide"
        ),
    ),
    Convention(
        label="Cisco ASA / FWSM default MSS",
        config="sysopt connection tcpmss 1380",
        mtu=None,
        mss_ipv4=1380,
        mss_ipv6=None,
        source="Cisco ASA Series Command Reference, sysopt connection tcpmss (default 1380)",
    ),
    Convention(
        label="WireGuard default MTU (wg-quick)",
        config="MTU = 1420",
        mtu=1420,
        mss_ipv4=_implied(1420)[0],
        mss_ipv6=_implied(1420)[1],
        source="wg-quick(8): default MTU 1420 (1500 less 80 bytes of IPv6 + UDP + WireGuard)",
    ),
    Convention(
        label="PPPoE (DSL/FTTH access)",
        config="ip mtu 1492 / ip tcp adjust-mss 1452",
        mtu=1492,
        mss_ipv4=1452,
        mss_ipv6=_implied(1492)[1],
        source="RFC 2516 §7 (PPPoE MRU at most 1492); Cisco PPPoE guidance adjust-mss 1452",
    ),
)
"""The conventions known, most often seen first."""


def conventions_for_mtu(mtu: int) -> tuple[Convention, ...]:
    """The conventions that set the IP MTU `mtu`.

    Args:
        mtu: an IP MTU, bytes.

    Returns:
        The matching conventions, in table order (empty when none matches).
    """
    return tuple(c for c in CONVENTIONS if c.mtu == mtu)


def conventions_for_mss(mss: int, family: int) -> tuple[Convention, ...]:
    """The conventions that set (or imply, through their MTU) the MSS `mss` for IPv`family`.

    Args:
        mss: a TCP MSS option value, bytes.
        family: 4 or 6.

    Returns:
        The matching conventions, in table order (empty when none matches).
    """
    return tuple(c for c in CONVENTIONS if (c.mss_ipv4 if family == 4 else c.mss_ipv6) == mss)


def conventions_for_ip_mtu(mtu: int) -> tuple[Convention, ...]:
    """The conventions that set the IP MTU `mtu`, or an IPv4 MSS clamp that fits it exactly
    (`sysopt connection tcpmss 1380` fits a 1420-byte MTU).

    Args:
        mtu: an IP MTU, bytes.

    Returns:
        The matching conventions, in table order.
    """
    mss4, _ = mss_for(mtu)
    return tuple(c for c in CONVENTIONS if c.mtu == mtu or (c.mtu is None and c.mss_ipv4 == mss4))


def convention_text(found: tuple[Convention, ...]) -> str | None:
    """The conventions as one phrase for people ("Cisco tunnel guidance (...): `ip mtu
    1400 / ip tcp adjust-mss 1360`"), or None when there are none."""
    if not found:
        return None
    return "; ".join(f"{c.label}: `{c.config}`" for c in found)
