"""Rule `offload-artifact`: oversized segments that exist only at the capture point.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Uses the classification of `mtuscope.passive.results.OversizedSegments`
(IPv4 total length 0, or acknowledged and either TTL still at an initial value
(sending host: TSO/GSO) or at least twice the limit (merged: GSO/GRO/LRO)).
One info finding per (sending address, mechanism): offload is a property of the
capturing host's NIC, not of each connection.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import (
    advice,
    frame_evidence,
    ip_len_field,
    ttl_field,
)
from mtuscope.passive.results import CaptureAnalysis, OversizedSegments

KIND = "offload-artifact"


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for segmentation-offload artifacts.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    cap = analysis.capture
    groups: dict[tuple[str, str], list[tuple[int, int, str, OversizedSegments]]] = {}
    for conn in analysis.notable:
        for role, sender, _ in conn.endpoints():
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
                over.limit,
                note=f"larger than the {over.limit_source.replace('-', ' ')}",
            ),
            frame_evidence(
                cap,
                over.largest_frame,
                ip_len_field(family),
                over.largest_ip_len,
                note="0: length left for the NIC (TSO)" if over.largest_ip_len == 0 else None,
            ),
            frame_evidence(cap, over.largest_frame, "frame.len", over.largest_wirelen),
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
        facts: dict[str, int | str | None] = {
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
        yield Finding(
            kind=KIND,
            severity=Severity.INFO,
            summary=(
                f"{count} segment(s) of up to {largest} bytes from {address} in "
                f"{len(items)} connection(s) are {mechanism} artifacts of a capture on the "
                f"{where} host, not packets on the wire"
            ),
            evidence=tuple(evidence),
            advice=advice(KIND, facts, platform),
            reference="",
            connection=conn_id,
            facts=facts,
        )
