"""Rule `mss-floor-ignored`: the peer announced an MSS below 536 and got 536-byte segments.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Windows (Vista and later) never sends segments below 536 bytes of payload
whatever MSS the peer announces; a peer or middlebox announcing less (to
squeeze through a narrow tunnel) then gets 536-byte segments that may not fit.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence
from mtuscope.passive.results import CaptureAnalysis

KIND = "mss-floor-ignored"
FLOOR = 536


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for senders that used 536-byte segments against a smaller MSS.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    cap = analysis.capture
    for conn in analysis.notable:
        for role, sender, receiver in conn.endpoints():
            if not sender.floor_segments or sender.floor_first_frame is None:
                continue
            evidence = [
                frame_evidence(
                    cap,
                    sender.floor_first_frame,
                    "tcp.len",
                    FLOOR,
                    receiver.mss,
                    note=f"first of {sender.floor_segments} 536-byte segment(s)",
                )
            ]
            if receiver.handshake_frame is not None:
                evidence.append(
                    frame_evidence(
                        cap,
                        receiver.handshake_frame,
                        "tcp.options.mss_val",
                        receiver.mss,
                        note="announced below 536",
                    )
                )
            facts: dict[str, int | str | None] = {
                "peer_mss": receiver.mss,
                "segment": FLOOR,
                "count": sender.floor_segments,
                "family": conn.family,
                "side": role,
                "address": sender.address,
            }
            yield Finding(
                kind=KIND,
                severity=Severity.WARNING,
                summary=(
                    f"Connection {conn.id}: {receiver.address} announced MSS {receiver.mss} "
                    f"but the {role} {sender.address} sent {sender.floor_segments} 536-byte "
                    "segment(s) (the Windows MSS floor)"
                ),
                evidence=tuple(evidence),
                advice=advice(KIND, facts, platform),
                reference="RFC 9293 §3.7.1, RFC 1122 §4.2.2.6",
                connection=conn.id,
                facts=facts,
            )
