"""Rule `pmtud-blackhole`: big segments vanish without an ICMP error, small ones pass.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Fires on each stall the passive analysis found (`Endpoint.black_holes`: one
segment retransmitted unchanged at least twice and never acknowledged, while a
smaller segment of the same direction was) on a connection for which no ICMP
too-big message was captured. The inferred path MTU lies between the largest
packet known to pass and one less than the stalled packet.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence
from mtuscope.passive.results import CaptureAnalysis

KIND = "pmtud-blackhole"


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for black-holed segments, one per stalled direction.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    cap = analysis.capture
    for conn in analysis.notable:
        for role, sender, receiver in conn.endpoints():
            holes = [h for h in sender.black_holes if not h.too_big_seen]
            if not holes:
                continue
            h = min(holes, key=lambda b: b.packet_size)
            hdr = h.packet_size - h.size
            evidence = [
                frame_evidence(
                    cap,
                    f,
                    "tcp.len",
                    h.size,
                    h.acked_size or None,
                    note=f"retransmission {i + 1} of {h.retransmissions}, never acknowledged",
                )
                for i, f in enumerate(h.frames[:5])
            ]
            if h.recovery_frame is not None:
                evidence.append(
                    frame_evidence(
                        cap,
                        h.recovery_frame,
                        "tcp.len",
                        h.recovery_size,
                        note="smaller retransmission of the same range (MTU probing)",
                    )
                )
            if h.end_frame is not None:
                field = "tcp.flags.reset" if h.end == "rst" else "tcp.flags.fin"
                evidence.append(
                    frame_evidence(cap, h.end_frame, field, 1, note="the connection ends")
                )
            facts: dict[str, int | str | None] = {
                "path_mtu": h.mtu_low,
                "mtu_low": h.mtu_low,
                "mtu_high": h.mtu_high,
                "segment": h.packet_size,
                "payload": h.size,
                "acked_payload": h.acked_size,
                "retransmissions": h.retransmissions,
                "family": conn.family,
                "side": role,
                "address": sender.address,
                "recovered": 1 if h.recovery_frame is not None else 0,
            }
            passing = (
                f"{h.acked_size + hdr}-byte packets pass: path MTU between "
                f"{h.mtu_low} and {h.mtu_high}"
                if h.acked_size
                else f"the handshake passes: path MTU below {h.packet_size}"
            )
            yield Finding(
                kind=KIND,
                severity=Severity.ERROR,
                summary=(
                    f"Connection {conn.id}: {h.packet_size}-byte packets from the {role} "
                    f"{sender.address} to {receiver.address} vanish ({h.retransmissions} "
                    f"retransmissions, no ICMP too-big) while {passing}"
                ),
                evidence=tuple(evidence),
                advice=advice(KIND, facts, platform),
                reference="RFC 2923 §2.1, RFC 4821",
                connection=conn.id,
                facts=facts,
            )
