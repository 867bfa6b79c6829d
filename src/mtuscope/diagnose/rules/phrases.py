"""Wording several rules share: reading facts, the ICMP plea, clamp lines, place names.

Layer: diagnose/. Pure text from numbers; no I/O. The numbers come from calc/
(clamps, usable MTUs, the encapsulation that explains an MTU).
"""

from __future__ import annotations

from collections.abc import Mapping

from mtuscope.active.hop_trace import MtuDrop
from mtuscope.active.middlebox_result import PathChange
from mtuscope.calc.advice import clamp_mss, ipv6_clamp, usable_mtu
from mtuscope.calc.conventions import convention_text, conventions_for_ip_mtu
from mtuscope.calc.explain import explain_mtu, nearest_stacks

FactsIn = Mapping[str, int | str | None]

ICMP = (
    "let ICMP fragmentation-needed (type 3 code 4) and ICMPv6 packet-too-big (type 2) "
    "through every firewall on the path (RFC 4890 §4.3.1; RFC 1191, RFC 8201)"
)
"""The plea of every advice that depends on too-big messages getting through."""

ETHERNET_MTU = 1500
"""The link MTU assumed when a drop's starting MTU is unknown."""


def fact_int(facts: FactsIn, key: str) -> int | None:
    """`facts[key]` as an int (digits in a string count), else None."""
    value = facts.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def fact_family(facts: FactsIn) -> int:
    """The IP version of `facts` (4 unless it says 6)."""
    return 6 if str(facts.get("family", 4)) in ("6", "ipv6", "IPv6") else 4


def fact_mtu(facts: FactsIn, key: str = "path_mtu") -> int | None:
    """`facts[key]` when it is an MTU an interface can have, else None."""
    mtu = fact_int(facts, key)
    return mtu if usable_mtu(mtu) else None


def first_mtu(facts: FactsIn, *keys: str) -> int | None:
    """The first of `keys` that holds a number, when it is an MTU an interface can have."""
    mtu = next((v for v in (fact_int(facts, k) for k in keys) if v), None)
    return mtu if usable_mtu(mtu) else None


def upper_first(text: str) -> str:
    # str.capitalize() would lower-case the rest ("MSS" -> "mss").
    return text[:1].upper() + text[1:]


def at_hop(facts: FactsIn) -> str:
    """ " at hop N" when the facts name a hop, else ""."""
    return f" at hop {facts['hop']}" if facts.get("hop") is not None else ""


def clamp_text(mtu: int) -> str:
    """ "MTU 1450 and an MSS clamp of IPv4 1410, IPv6 1390"."""
    six = ipv6_clamp(mtu)
    return f"MTU {mtu} and an MSS clamp of IPv4 {clamp_mss(mtu, 4)}" + (
        f", IPv6 {six}" if six is not None else ""
    )


def looks_like(mtu: int, from_mtu: int | None) -> str:
    """ " (1500-1450 looks like VXLAN over IPv4)": the encapsulation calc/ finds for a drop."""
    base = from_mtu if usable_mtu(from_mtu) and from_mtu is not None and from_mtu >= mtu else None
    base = ETHERNET_MTU if base is None else base
    if mtu >= base:
        return ""
    found = explain_mtu(mtu, from_mtu=base, limit=2)
    convention = convention_text(conventions_for_ip_mtu(mtu))
    conv = f"; configured by convention: {convention}" if convention else ""
    if not found:
        # A convention explains the value; the nearest stacks only matter without one.
        stacks = () if convention else nearest_stacks(mtu, from_mtu=base)
        near = ", ".join(f"{e.label} {e.mtu} ({e.difference:+d} bytes)" for e in stacks)
        nearest = f"; nearest stacks: {near}" if near else ""
        gap = f"{base - mtu} bytes below {base}"
        return f" ({gap}: {NO_MATCH}{nearest}{conv})"
    names = " or ".join(e.label for e in found)
    return f" ({base}-{mtu} looks like {names}{conv})"


VLAN_ALLOWANCE = 4
"""Bytes over its MTU a Linux (and most hardware) receiver still accepts: room for a VLAN
tag (the kernel's `is_skb_forwardable`)."""


def l2_mismatch(mtu: int | None, from_mtu: int | None = None) -> int | None:
    """The receiving end's MTU when a silent drop at `mtu` looks like the two ends of one
    link disagreeing: `mtu` is a round MTU (a multiple of 100, or one calc/ explains) plus
    the VLAN allowance, while `mtu` itself is not. Else None.

    A router that cannot forward a packet sends a too-big message; a receiver whose MTU is
    smaller than its peer's drops the frame before any router sees it, so nothing is sent
    and there is nothing to let through a firewall.
    """
    if mtu is None or not usable_mtu(mtu - VLAN_ALLOWANCE):
        return None
    base = from_mtu if from_mtu is not None and from_mtu > mtu else ETHERNET_MTU
    if mtu >= base:
        return None
    inner = mtu - VLAN_ALLOWANCE

    def round_mtu(value: int) -> bool:
        return value % 100 == 0 or bool(explain_mtu(value, from_mtu=base, limit=1))

    return inner if round_mtu(inner) and not round_mtu(mtu) else None


ETHERNET_HEADER = 14
"""Ethernet II header bytes (destination, source, EtherType), without the FCS."""
VLAN_HEADER = ETHERNET_HEADER + 4
"""The same with one 802.1Q tag."""


def counted_header(mtu: int | None, quoted: int | None) -> int | None:
    """The link-layer header a router seems to count in the MTU it claims: it refused a
    `quoted`-byte packet that fits `mtu`, but not with an Ethernet header (14, or 18 with
    a VLAN tag) added. None when the MTU is smaller than the packet, or larger than the
    packet plus a tagged header."""
    if mtu is None or quoted is None or quoted <= 0 or mtu < quoted:
        return None
    return next((h for h in (ETHERNET_HEADER, VLAN_HEADER) if quoted + h > mtu), None)


def counted_header_text(mtu: int, quoted: int, header: int) -> str:
    """The likely cause of a too-big message whose MTU the refused packet fits."""
    which = "Ethernet header" if header == ETHERNET_HEADER else "Ethernet and VLAN headers"
    return (
        f"the router refused a {quoted}-byte packet while claiming MTU {mtu}, and {quoted} "
        f"plus its {which} ({header} bytes) is {quoted + header}: it likely counts that "
        "header in the MTU it reports. On Cisco IPsec this is the sign of a crypto map "
        "applied to the tunnel interface, so the SA's MTU comes from the tunnel: check "
        "where the crypto map is applied and the MTU the SA shows (`show crypto ipsec sa`)"
    )


def silent_drop_text(mtu: int, from_mtu: int | None, place: str) -> str:
    """Why a drop at `mtu` is silent, for advice: a disagreeing link or filtered ICMP."""
    inner = l2_mismatch(mtu, from_mtu)
    if inner is not None:
        return (
            f"{mtu} is {inner} plus {VLAN_ALLOWANCE} bytes, the mark of a link whose two ends "
            f"disagree: the receiving end {place} has MTU {inner} and silently drops larger "
            "frames (no router sees them, so no too-big message can be sent, and none is "
            f"filtered). Set the same MTU on both ends of that link ({inner}, or raise the "
            "receiving end)"
        )
    return (
        "Either a firewall drops the router's too-big messages or the two ends of the link "
        f"{place} disagree on the MTU (a receiver drops larger frames without a word): check "
        f"both ends of that link, and {ICMP}"
    )


NO_MATCH = "no common encapsulation matches"
"""What `looks_like` says when calc/ finds no encapsulation for a drop."""


def where_to_clamp(guess: str) -> str:
    """Where the clamp goes: at the tunnel head end when `looks_like` named an
    encapsulation, else on the router in front of the narrow link."""
    if guess and NO_MATCH not in guess:
        return "at the tunnel head end"
    return "on the router in front of the narrow link"


def hop_name(hop: int, address: object) -> str:
    """A hop of a trace: "this host" for 0, else "hop 3 192.0.2.1"."""
    return "this host" if hop == 0 else f"hop {hop} {address if address else '(no reply)'}"


def drop_between(drop: MtuDrop) -> str:
    """Where a trace's MTU drops: "between hop 2 ... and hop 3 ..."."""
    return (
        f"between {hop_name(drop.after_hop, drop.address)} and "
        f"{hop_name(drop.at_hop, drop.at_address)}"
    )


def quote_hop(ttl: int, address: object | None) -> str:
    """A hop of a middlebox walk: "this host" for 0, else "hop 3 (192.0.2.1)"."""
    if ttl == 0:
        return "this host"
    return f"hop {ttl} ({address if address is not None else 'no reply'})"


def change_between(change: PathChange) -> str:
    """Where a middlebox walk saw a field change: "between hop 2 (...) and hop 3 (...)"."""
    return (
        f"between {quote_hop(change.from_ttl, change.from_address)} and "
        f"{quote_hop(change.to_ttl, change.to_address)}"
    )
