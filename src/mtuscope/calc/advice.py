"""Concrete advice for each finding kind: which MTU or clamp, on which side, and why.

Layer: calc/. Pure text built from numbers; no I/O. diagnose/ rules call
`advise(kind, facts)` to fill `Finding.advice`.

Facts read (all optional; a missing fact gives generic but still useful advice):

    path_mtu   the path MTU measured or inferred          family   4 or 6
    mss        the MSS concerned (announced/effective)    peer_mss the other side's MSS
    icmp_mtu   MTU quoted by an ICMP too-big message      side     "client"/"server"/...
    from_mtu, to_mtu   MTU before and after a drop        hop      hop number of the drop
    original_mss       MSS before a middlebox rewrote it  option   TCP option name
    segment    size of an offending segment               address  who sent/where
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mtuscope.calc.explain import explain_mtu
from mtuscope.calc.snippets import platform_name, render
from mtuscope.calc.stack import MIN_MTU
from mtuscope.errors import UsageError

Facts = Mapping[str, int | str | None]

_ICMP = (
    "let ICMP fragmentation-needed (type 3 code 4) and ICMPv6 packet-too-big (type 2) "
    "through every firewall on the path (RFC 4890 §4.3.1; RFC 1191, RFC 8201)"
)


def _int(facts: Facts, key: str) -> int | None:
    value = facts.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _upper_first(text: str) -> str:
    # str.capitalize() would lower-case the rest ("MSS" -> "mss").
    return text[:1].upper() + text[1:]


def _family(facts: Facts) -> int:
    return 6 if str(facts.get("family", 4)) in ("6", "ipv6", "IPv6") else 4


def _hdr(family: int) -> int:
    return 40 if family == 4 else 60


def _fits(mtu: int | None) -> bool:
    return mtu is not None and MIN_MTU[4] <= mtu <= 65535


def _clamp_text(mtu: int) -> str:
    six = f", IPv6 {mtu - 60}" if mtu >= MIN_MTU[6] else ""
    return f"MTU {mtu} and an MSS clamp of IPv4 {mtu - 40}{six}"


def _looks_like(mtu: int, from_mtu: int | None) -> str:
    base = from_mtu if _fits(from_mtu) and from_mtu is not None and from_mtu >= mtu else 1500
    if mtu >= base:
        return ""
    found = explain_mtu(mtu, from_mtu=base, limit=2)
    if not found:
        return f" ({base - mtu} bytes below {base}: no common encapsulation matches)"
    names = " or ".join(e.label for e in found)
    return f" ({base}-{mtu} looks like {names})"


def _oversized_mss(f: Facts) -> tuple[str, int | None]:
    fam, mtu, mss = _family(f), _int(f, "path_mtu"), _int(f, "mss")
    if _fits(mtu) and mtu is not None:
        clamp = mtu - _hdr(fam)
        who = f"the {f['side']}'s" if f.get("side") else "the"
        said = f"{who} MSS {mss} plus {_hdr(fam)} bytes of headers" if mss else f"{who} MSS"
        return (
            f"{_upper_first(said)} does not fit the path MTU {mtu}: clamp the MSS to {clamp} "
            f"(IPv{fam}) on the router where the path narrows, on both directions' SYNs, or set "
            f"the tunnel/interface MTU to {mtu} so hosts announce it; and {_ICMP}, so PMTUD "
            "can correct the rest.",
            mtu,
        )
    return (
        "The announced MSS does not fit the path: measure the path MTU (mtuscope path), then "
        f"clamp the MSS to path MTU - {_hdr(fam)} on the router where the path narrows; "
        f"and {_ICMP}.",
        None,
    )


def _undersized_pmtu(f: Facts) -> tuple[str, int | None]:
    fam, mtu = _family(f), _int(f, "path_mtu")
    floor = 576 if fam == 4 else 1280
    why = (
        "RFC 8200 §5 requires 1280 on every IPv6 link"
        if fam == 6
        else ("RFC 791 and RFC 1122 §3.3.3 expect at least 576")
    )
    if mtu is None:
        return (
            f"The path MTU is below {floor} ({why}): find the link or tunnel with the small "
            "MTU (mtuscope path shows the hop) and raise it, or carry the traffic over a "
            "path without the extra encapsulation.",
            None,
        )
    return (
        f"The path MTU {mtu}{_looks_like(mtu, _int(f, 'from_mtu'))} is below {floor} ({why}): "
        f"raise the MTU of the narrow link or tunnel to at least {floor}; until then "
        f"clamp TCP to {mtu - _hdr(fam)} (IPv{fam}).",
        # An IPv6 MTU below 1280 cannot be configured: no snippet, only "raise it".
        mtu if _fits(mtu) and fam == 4 else None,
    )


def _undersized_mss(f: Facts) -> tuple[str, int | None]:
    fam, mss, mtu = _family(f), _int(f, "mss"), _int(f, "path_mtu")
    floor = 1380 if fam == 4 else 1220
    best = f"{mtu - _hdr(fam)}, which the path MTU {mtu} allows" if _fits(mtu) and mtu else None
    return (
        f"The MSS {mss if mss is not None else 'in use'} is below {floor}: every segment "
        "carries less data than it could, costing packets and throughput. Look for an "
        "over-eager `adjust-mss`/TCPMSS clamp or a small interface MTU on the way and "
        f"raise it{' to ' + best if best else ' to path MTU - ' + str(_hdr(fam))}.",
        mtu if _fits(mtu) else None,
    )


def _pmtud_failure(f: Facts) -> tuple[str, int | None]:
    mtu, fam = _int(f, "path_mtu"), _family(f)
    tail = (
        f" Meanwhile clamp the MSS to {mtu - _hdr(fam)} (IPv{fam})."
        if _fits(mtu) and mtu
        else (" Meanwhile clamp the MSS to the path MTU less 40 (IPv4) or 60 (IPv6).")
    )
    return (
        f"Path MTU discovery cannot finish because too-big signals are missing: {_ICMP}; "
        "check for routers rate-limiting or not sending them, and for NAT or load balancers "
        "that do not forward them to the host." + tail,
        mtu if _fits(mtu) else None,
    )


def _pmtud_blackhole(f: Facts) -> tuple[str, int | None]:
    mtu = _int(f, "path_mtu")
    where = f" at hop {f['hop']}" if f.get("hop") is not None else ""
    if _fits(mtu) and mtu is not None:
        fix = (
            f"Packets above {mtu} bytes vanish{where} without an ICMP error"
            f"{_looks_like(mtu, _int(f, 'from_mtu'))}: set {_clamp_text(mtu)} on the router "
            f"in front of the narrow link (both directions), and {_ICMP}."
        )
    else:
        fix = f"Large packets vanish{where} without an ICMP error: {_ICMP}, and clamp the MSS."
    return (
        fix + " Hosts can cope on their own with packetization-layer PMTUD "
        "(RFC 4821; Linux net.ipv4.tcp_mtu_probing=1).",
        mtu if _fits(mtu) else None,
    )


def _mtu_drop(f: Facts) -> tuple[str, int | None]:
    to, frm = _int(f, "to_mtu") or _int(f, "path_mtu"), _int(f, "from_mtu")
    where = f" at hop {f['hop']}" if f.get("hop") is not None else ""
    if _fits(to) and to is not None:
        return (
            f"The MTU drops{where} from {frm or 'the link MTU'} to {to}"
            f"{_looks_like(to, frm)}. Configure {_clamp_text(to)} on the tunnel or interface "
            "where the encapsulation starts, so hosts never send more.",
            to,
        )
    return (
        f"The MTU drops{where}: set the tunnel MTU to the link MTU less the encapsulation "
        "overhead (mtuscope calc) and clamp the MSS to it less 40 (IPv4) / 60 (IPv6).",
        None,
    )


def _icmp_too_big(f: Facts) -> tuple[str, int | None]:
    mtu = _int(f, "icmp_mtu") or _int(f, "path_mtu")
    who = f" by {f['address']}" if f.get("address") else ""
    if _fits(mtu) and mtu is not None:
        return (
            f"A router{who} reports a next-hop MTU of {mtu}"
            f"{_looks_like(mtu, _int(f, 'from_mtu'))}: "
            "PMTUD works here, but each new flow pays a retransmission. Set "
            f"{_clamp_text(mtu)} at the tunnel head end to avoid it; keep these ICMP messages "
            "allowed (RFC 4890 §4.3.1).",
            mtu,
        )
    return (
        f"A router{who} sent a too-big message; a next-hop MTU of 0 or an absurd value means an "
        "old router (RFC 1191 §5 plateau search): find it and set its MTU explicitly.",
        None,
    )


def _segment_exceeds_mss(f: Facts) -> tuple[str, int | None]:
    peer, seg, side = _int(f, "peer_mss"), _int(f, "segment"), f.get("side") or "a sender"
    size = f" of {seg} bytes" if seg else ""
    lim = f" ({peer})" if peer else ""
    return (
        f"{_upper_first(str(side))} sent segments{size} larger than the peer's MSS{lim}. If the "
        "capture was taken on that host, it is segmentation offload (see offload-artifact); "
        "otherwise a middlebox rewrote the MSS in one direction only or the sender ignores it: "
        "clamp the MSS on both directions' SYNs at the same box.",
        None,
    )


def _offload_artifact(f: Facts) -> tuple[str, int | None]:
    return (
        "The oversized segments exist only in the sending host's capture (TSO/GSO/GRO hand the "
        "NIC large buffers); they are not on the wire. Capture on the wire or a mirror port, or "
        "turn offloads off while capturing: `ethtool -K <iface> tso off gso off gro off`.",
        None,
    )


def _mss_floor_ignored(f: Facts) -> tuple[str, int | None]:
    peer = _int(f, "peer_mss")
    said = f" {peer}" if peer else ""
    return (
        f"The peer announced an MSS{said} below 536 and the sender used 536 anyway (Windows "
        "Vista and later enforce that floor), so its segments exceed the path: raise the MTU of "
        "the narrow link to at least 576 (IPv4) so the peer can announce 536 or more, or clamp "
        "at the router in front of it.",
        None,
    )


def _mss_rewritten(f: Facts) -> tuple[str, int | None]:
    orig, now = _int(f, "original_mss"), _int(f, "mss")
    where = f" at hop {f['hop']}" if f.get("hop") is not None else ""
    change = f" from {orig} to {now}" if orig and now else ""
    mtu = now + (40 if _family(f) == 4 else 60) if now else None
    return (
        f"A middlebox{where} rewrites the MSS{change} (an `adjust-mss`/TCPMSS clamp). That is "
        "fine when the value matches the path; check that it equals the path MTU less 40 "
        "(IPv4) / 60 (IPv6), that it applies to both directions, and to IPv6 as well.",
        mtu if _fits(mtu) else None,
    )


def _isn_rewritten(f: Facts) -> tuple[str, int | None]:
    return (
        "A firewall or proxy offsets TCP sequence numbers (ISN randomisation, e.g. Cisco ASA "
        "`set connection random-sequence-number`). Harmless by itself, but it breaks SACK and "
        "TCP-AO/MD5 signatures if it does not rewrite them too: disable it for those flows, or "
        "compare the two capture points by payload rather than by sequence number.",
        None,
    )


def _tcp_option_changed(f: Facts) -> tuple[str, int | None]:
    opt = f.get("option") or "A TCP option"
    return (
        f"{opt} is added, stripped or changed in the path: look for TCP normalisation on "
        "firewalls (Cisco ASA tcp-map, FortiOS, NAT boxes) and turn it off for the option, "
        "since stripping window scaling, SACK or timestamps costs throughput (RFC 7323).",
        None,
    )


def _lost_between_points(f: Facts) -> tuple[str, int | None]:
    seg, mtu = _int(f, "segment"), _int(f, "path_mtu")
    size = f" of {seg} bytes" if seg else ""
    extra = f"; set {_clamp_text(mtu)} if the losses are all large" if _fits(mtu) and mtu else ""
    return (
        f"Segments{size} left one capture point and never reached the other. If only large "
        "segments go missing it is an MTU black hole between the points: clamp the MSS and "
        f"{_ICMP}{extra}; otherwise look for drops (policers, full queues) on that stretch.",
        mtu if _fits(mtu) else None,
    )


def _ip_fragmentation(f: Facts) -> tuple[str, int | None]:
    mtu = _int(f, "path_mtu")
    target = (
        f"Set {_clamp_text(mtu)} on the tunnel or interface"
        if _fits(mtu) and mtu
        else "Lower the tunnel or interface MTU to the path MTU and clamp the MSS"
    )
    return (
        "IP fragments are on the wire: fragmentation is fragile (RFC 8900) and many firewalls "
        f"drop fragments. {target} so packets fit unfragmented, and for UDP applications "
        "(DNS, VPNs) lower their packet size.",
        mtu if _fits(mtu) else None,
    )


_ADVISORS: dict[str, Callable[[Facts], tuple[str, int | None]]] = {
    "oversized-mss": _oversized_mss,
    "undersized-pmtu": _undersized_pmtu,
    "undersized-mss": _undersized_mss,
    "pmtud-failure": _pmtud_failure,
    "pmtud-blackhole": _pmtud_blackhole,
    "mtu-drop": _mtu_drop,
    "icmp-too-big": _icmp_too_big,
    "segment-exceeds-mss": _segment_exceeds_mss,
    "offload-artifact": _offload_artifact,
    "mss-floor-ignored": _mss_floor_ignored,
    "mss-rewritten": _mss_rewritten,
    "isn-rewritten": _isn_rewritten,
    "tcp-option-changed": _tcp_option_changed,
    "lost-between-points": _lost_between_points,
    "ip-fragmentation": _ip_fragmentation,
}
ADVICE_KINDS: tuple[str, ...] = tuple(_ADVISORS)
"""Finding kinds `advise` knows: all of diagnose.findings.KINDS (checked by the tests;
calc/ does not import diagnose/, which depends on it)."""


def advise(kind: str, facts: Facts, *, platform: str | None = None) -> str:
    """One short paragraph of concrete advice for a finding.

    Args:
        kind: a finding kind from `mtuscope.diagnose.findings.KINDS`.
        facts: the numbers behind the finding (see the module docstring); may be empty.
        platform: when given (one of `snippets.PLATFORMS`), the configuration lines for
            that platform are appended whenever an MTU is known.

    Returns:
        The advice text (a paragraph, then the snippet lines if any).

    Raises:
        UsageError: unknown kind or platform.
    """
    advisor = _ADVISORS.get(kind)
    if advisor is None:
        raise UsageError(f"no advice for unknown finding kind {kind!r}")
    key = platform_name(platform) if platform is not None else None
    text, mtu = advisor(facts)
    if key is None or mtu is None:
        return text
    snippet = render(
        key,
        ip_mtu=mtu,
        mss_ipv4=mtu - 40,
        mss_ipv6=mtu - 60 if mtu >= MIN_MTU[6] else None,
        interface=str(facts.get("interface") or "<iface>"),
    )
    return f"{text}\n{snippet}"
