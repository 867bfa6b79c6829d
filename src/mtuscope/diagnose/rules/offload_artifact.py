"""Rule `offload-artifact`: oversized segments that exist only at the capture point.

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of a `CompareResult`; no I/O.

Capture: uses the classification of `mtuscope.passive.results.OversizedSegments`
(IPv4 total length 0, or acknowledged and either TTL still at an initial value
(sending host: TSO/GSO) or at least twice the limit (merged: GSO/GRO/LRO)).
One info finding per (sending address, mechanism): offload is a property of the
capturing host's NIC, not of each connection.

Two capture points: segments at one point that the other saw as several smaller
ones; one info finding per (direction, point).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import (
    at_most,
    directions,
    frame_evidence,
    ip_len_field,
    ttl_field,
)
from mtuscope.diagnose.rules.phrases import FactsIn
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import (
    change_groups,
    one_point_facts,
    one_point_text,
    point_name,
)
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison
from mtuscope.passive.results import CaptureAnalysis, OversizedSegments

LIMIT_WORDS = {"peer-mss": "peer's MSS", "link-mtu": "link MTU"}
"""`OversizedSegments.limit_source` in words."""
KIND = "offload-artifact"
REFERENCE = ""


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for segmentation-offload artifacts."""
    cap = analysis.capture
    groups: dict[tuple[str, str], list[tuple[int, int, str, OversizedSegments]]] = {}
    for conn, role, sender, _ in directions(analysis):
        over = sender.oversized
        if over is not None and over.artifact and over.mechanism is not None:
            key = (sender.address, over.mechanism)
            groups.setdefault(key, []).append((conn.id, conn.family, role, over))
    for (address, mechanism), items in groups.items():
        conn_id, family, role, over = items[0]
        count = sum(o.count for *_, o in items)
        largest = max(o.largest for *_, o in items)
        evidence: list[Evidence] = [
            frame_evidence(
                cap,
                over.largest_frame,
                "tcp.len",
                over.largest,
                at_most(over.limit),
                note=f"larger than the {LIMIT_WORDS.get(over.limit_source, over.limit_source)} "
                "allows",
            ),
            frame_evidence(
                cap,
                over.largest_frame,
                ip_len_field(family),
                over.largest_ip_len,
                note="0: length left for the NIC (TSO)" if over.largest_ip_len == 0 else None,
            ),
            frame_evidence(
                cap,
                over.largest_frame,
                "frame.len",
                over.largest_wirelen,
                note="the frame as captured, before the NIC splits it",
            ),
        ]
        if over.sender_side:
            evidence.append(
                frame_evidence(
                    cap,
                    over.largest_frame,
                    ttl_field(family),
                    over.ttl_max,
                    note="still an initial TTL: captured on the sending host",
                )
            )
        facts: Facts = {
            "segment": largest,
            "count": count,
            "connections": len(items),
            "mechanism": mechanism,
            "family": family,
            "side": role,
            "address": address,
            "peer_mss": over.limit if over.limit_source == "peer-mss" else None,
        }
        where = "sending" if mechanism == "TSO/GSO" else "receiving"
        yield RULE.finding(
            summary=(
                f"{count} segment(s) of up to {largest} bytes from {address} in "
                f"{len(items)} connection(s) are {mechanism} artifacts of a capture on the "
                f"{where} host, not packets on the wire"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn_id,
        )


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    return (c.direction, c.seen_at)


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for a capture point on a host that coalesces or splits segments."""
    for group in change_groups(result, KIND, _key):
        facts = group.facts() | one_point_facts(group, lambda m: m.offloaded)
        seen, other, sizes = one_point_text(group)
        host = group.changes[0].note.rsplit("coalesced by the ", 1)[-1]
        yield group.finding(
            RULE,
            result,
            summary=(
                f"Capture {point_name(result, seen)} was taken on a {host}: {group.direction} "
                f"segments of {sizes} bytes there were smaller segments at {other} "
                f"({group.connections_text()})"
            ),
            facts=facts,
            platform=platform,
            reference="RFC 9293 §3.7.1",
        )


def advise(f: FactsIn) -> Advice:
    """Capture on the wire, or with offloads off."""
    return (
        "The oversized segments exist only in the sending host's capture (TSO/GSO/GRO hand the "
        "NIC large buffers); they are not on the wire. Capture on the wire or a mirror port, or "
        "turn offloads off while capturing: `ethtool -K <iface> tso off gso off gro off`.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
