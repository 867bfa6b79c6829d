"""Rule `lost-between-points`: a segment seen at one capture point never reached the other.

Layer: diagnose/. A pure function of a `CompareResult`; no I/O.

One warning per (direction, point the segments were seen at), over all
connections: losses on the stretch between the points, which an MTU black hole
explains when only large segments go missing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.phrases import ICMP, FactsIn, clamp_text, fact_int, fact_mtu
from mtuscope.diagnose.rules.rule import Advice, Rule
from mtuscope.diagnose.rules.two_points import (
    change_groups,
    one_point_facts,
    one_point_text,
    point_name,
)
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison

KIND = "lost-between-points"
REFERENCE = "RFC 9293 §3.8.1"


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    return (c.direction, c.seen_at)


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for segments lost between the two capture points."""
    for group in change_groups(result, KIND, _key):
        facts = group.facts() | one_point_facts(group, lambda m: m.lost)
        seen, other, sizes = one_point_text(group)
        count = facts["count"]
        yield group.finding(
            RULE,
            result,
            summary=(
                f"{count} {group.direction} segment transmission{'s' if count != 1 else ''} "
                f"seen at {point_name(result, seen)} never reached {other} (payload {sizes} "
                f"bytes; {group.connections_text()})"
            ),
            facts=facts,
            platform=platform,
        )


def advise(f: FactsIn) -> Advice:
    """Large segments only: a black hole between the points; otherwise drops."""
    seg, mtu = fact_int(f, "segment"), fact_mtu(f)
    size = f" of {seg} bytes" if seg else ""
    extra = f"; set {clamp_text(mtu)} if the losses are all large" if mtu is not None else ""
    return (
        f"Segments{size} left one capture point and never reached the other. If only large "
        "segments go missing it is an MTU black hole between the points: clamp the MSS and "
        f"{ICMP}{extra}; otherwise look for drops (policers, full queues) on that stretch.",
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
