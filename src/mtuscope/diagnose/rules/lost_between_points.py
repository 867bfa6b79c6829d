"""Rule `lost-between-points`: a segment seen at one capture point never reached the other.

Layer: diagnose/. A pure function of a `CompareResult`; no I/O.

One finding per (direction, point the segments were seen at, cause), over all
connections. The cause is read from the same facts `analyze` reads:

- `pmtud`: ICMP too-big messages in the same captures quote the connection with an
  MTU below the lost packets' size. That is path MTU discovery at work (RFC 1191
  §3, RFC 8201 §4): the router dropped the packet and said so. Info.
- `blackhole`: no too-big message for the connection, the sender retransmitted the
  same range and it never arrived either, and only segments larger than any that
  did arrive went missing: an MTU black hole, an error as in `analyze`
  (`pmtud-blackhole`, RFC 2923 §2.1).
- `loss`: anything else (policers, full queues, a black hole not yet proven). Warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import MAX_COMPARE_FRAMES, icmp_mtu_field
from mtuscope.diagnose.rules.phrases import ICMP, FactsIn, clamp_text, fact_int, fact_mtu
from mtuscope.diagnose.rules.rule import Advice, Rule
from mtuscope.diagnose.rules.two_points import (
    UP,
    change_groups,
    one_point_facts,
    one_point_text,
    point_name,
)
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison, IcmpSeen

KIND = "lost-between-points"
REFERENCE = "RFC 9293 §3.8.1"
SEVERITY = {"pmtud": Severity.INFO, "blackhole": Severity.ERROR, "loss": Severity.WARNING}
"""The severity of each cause: the same facts get the same severity as in `analyze`."""


IcmpIndex = dict[tuple[str, int], list[IcmpSeen]]
"""Too-big messages by (capture point, connection id at that point)."""


def _icmp_index(result: CompareResult) -> IcmpIndex:
    index: IcmpIndex = {}
    for i in result.icmp:
        if i.connection is not None:
            index.setdefault((i.point, i.connection), []).append(i)
    return index


def _too_big(index: IcmpIndex, m: ConnectionComparison) -> list[IcmpSeen]:
    """The too-big messages, at either point, that quote connection `m`."""
    return index.get(("a", m.a.id), []) + index.get(("b", m.b.id), [])


def _cause(index: IcmpIndex, m: ConnectionComparison, c: Change) -> str:
    icmp = _too_big(index, m)
    if c.ip_len is not None and any(i.mtu < c.ip_len for i in icmp):
        return "pmtud"
    if icmp:
        return "loss"
    mine = [
        x
        for x in m.changes
        if x.kind == KIND and x.direction == c.direction and x.seen_at == c.seen_at
    ]
    again = Counter(x.rel_seq for x in mine)
    retried = any(n >= 2 for seq, n in again.items() if seq is not None)
    # The largest payload of this direction that reached the other point.
    other = m.b if c.seen_at == "a" else m.a
    arrived = other.max_segment[0 if c.direction == UP else 1]
    sizes = [v for x in mine for v in (x.a if c.seen_at == "a" else x.b,) if isinstance(v, int)]
    if retried and sizes and min(sizes) > arrived:
        return "blackhole"
    return "loss"


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for segments lost between the two capture points."""
    index = _icmp_index(result)

    def key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
        # Decided per change: a pmtud verdict needs this packet to exceed a reported MTU.
        return (c.direction, c.seen_at, _cause(index, m, c))

    for group in change_groups(result, KIND, key):
        cause = str(group.key[2])
        facts = group.facts() | one_point_facts(group, lambda m: m.lost)
        seen, other, sizes = one_point_text(group)
        count = facts["count"]
        packets = [c.ip_len for c in group.changes if c.ip_len is not None]
        packet = min(packets) if packets else None
        facts |= {"cause": cause, "ip_len": packet}
        what = (
            f"{count} {group.direction} segment transmission{'s' if count != 1 else ''} "
            f"seen at {point_name(result, seen)} never reached {other} (payload {sizes} "
            f"bytes; {group.connections_text()})"
        )
        evidence = group.evidence(result)
        if cause == "pmtud":
            icmp = [i for m in group.connections for i in _too_big(index, m)]
            mtu = min(i.mtu for i in icmp)
            facts |= {"icmp_mtu": mtu, "path_mtu": mtu, "messages": len(icmp)}
            what += (
                f": {len(icmp)} ICMP too-big message{'s' if len(icmp) != 1 else ''} "
                f"(MTU {mtu}) from {icmp[0].sender} answered them, so this is path MTU "
                "discovery at work"
            )
            evidence += tuple(
                Evidence(
                    field=icmp_mtu_field(group.connections[0].a.family),
                    observed=i.mtu,
                    capture=i.capture,
                    frame=i.frame,
                    note=f"too-big message from {i.sender} quoting this connection",
                )
                for i in icmp[:MAX_COMPARE_FRAMES]
            )
        elif cause == "blackhole" and packet is not None:
            facts |= {"mtu_high": packet - 1}
            what += (
                f": retransmitted and lost again with no ICMP too-big, while smaller "
                f"packets passed: an MTU black hole between the points (path MTU below "
                f"{packet})"
            )
        yield group.finding(
            RULE,
            result,
            summary=what,
            facts=facts,
            platform=platform,
            severity=SEVERITY[cause],
            evidence=evidence,
        )


def advise(f: FactsIn) -> Advice:
    """PMTUD at work, a black hole between the points, or drops."""
    seg, mtu = fact_int(f, "segment"), fact_mtu(f)
    size = f" of {seg} bytes" if seg else ""
    cause = f.get("cause")
    if cause == "pmtud" and mtu is not None:
        return (
            f"Nothing to fix for these losses: segments{size} were too big for a link between "
            f"the points, its router said so (ICMP too-big, MTU {mtu}) and the sender resent "
            f"them smaller (RFC 1191, RFC 8201). To spare each new flow that first round trip, "
            f"set {clamp_text(mtu)} on the router in front of the narrow link; keep these ICMP "
            "messages allowed (RFC 4890 §4.3.1).",
            mtu,
        )
    if cause == "blackhole":
        packet = fact_int(f, "ip_len")
        below = f"packets of {packet} bytes" if packet else "large packets"
        return (
            f"An MTU black hole between the points: {below} vanish without an ICMP error. "
            f"Find the narrow link on that stretch (`mtuscope probe`), clamp the MSS in front "
            f"of it and {ICMP}. Hosts can cope on their own with packetization-layer PMTUD "
            "(RFC 4821; Linux net.ipv4.tcp_mtu_probing=1).",
            None,
        )
    extra = f"; set {clamp_text(mtu)} if the losses are all large" if mtu is not None else ""
    return (
        f"Segments{size} left one capture point and never reached the other. If only large "
        "segments go missing it is an MTU black hole between the points: clamp the MSS and "
        f"{ICMP}{extra}; otherwise look for drops (policers, full queues) on that stretch.",
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
