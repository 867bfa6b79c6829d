"""Rule `pmtud-blackhole`: big segments vanish without an ICMP error, small ones pass.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Fires on each stall the passive analysis found (`Endpoint.black_holes`: one
segment retransmitted unchanged at least twice and never acknowledged, while a
smaller segment of the same direction was) on a connection for which no ICMP
too-big message was captured. The inferred path MTU lies between the largest
packet known to pass and one less than the stalled packet. Severity `error`: the
sender's retransmissions prove it.

From the receiving side (`ReceiverBlackHole`: the sender's sequence numbers jumped a
full segment or more over bytes that never arrived, the receiver's ACK stayed at the
gap, no ICMP too-big, and only packets smaller than a full segment arrived) the same
kind fires as a `warning`: a likely black hole, bounded below by the largest packet
that did arrive.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence
from mtuscope.passive.results import BlackHole, CaptureAnalysis, Connection, ReceiverBlackHole

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
            gaps = [h for h in sender.black_holes if isinstance(h, ReceiverBlackHole)]
            holes = [
                h for h in sender.black_holes if isinstance(h, BlackHole) and not h.too_big_seen
            ]
            if gaps and not holes:
                yield _from_receiver(
                    cap, conn, role, sender.address, receiver.address, gaps[0], platform
                )
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


MIN_MTU = {4: 576, 6: 1280}
"""Smallest MTU every path carries (RFC 1122 §3.3.3, RFC 8200 §5): a bound below it says
nothing about the path MTU."""


def _from_receiver(
    cap: str,
    conn: Connection,
    role: str,
    sender: str,
    receiver: str,
    g: ReceiverBlackHole,
    platform: str | None,
) -> Finding:
    """The `warning` finding for a black hole seen from the receiving side."""
    evidence = []
    if g.last_in_order_frame is not None:
        evidence.append(
            frame_evidence(
                cap,
                g.last_in_order_frame,
                "tcp.nxtseq",
                g.gap_start_raw,
                note="last packet before the gap",
            )
        )
    evidence.append(
        frame_evidence(
            cap,
            g.jump_frame,
            "tcp.seq",
            g.seq_raw,
            g.gap_start_raw,
            note=f"sequence jumps {g.missing} bytes: they never arrived",
        )
    )
    if g.receiver_frame is not None:
        evidence.append(
            frame_evidence(
                cap,
                g.receiver_frame,
                "tcp.ack",
                g.receiver_ack_raw,
                note=f"the receiver's ACK never passes the gap at {g.gap_start_raw}",
            )
        )
    if g.end_frame is not None and g.end_frame != g.receiver_frame:
        field = "tcp.flags.reset" if g.end == "rst" else "tcp.flags.fin"
        evidence.append(frame_evidence(cap, g.end_frame, field, 1, note="the connection ends"))
    bound = g.mtu_low if g.mtu_low >= MIN_MTU.get(conn.family, 1280) else None
    facts: dict[str, int | str | None] = {
        "path_mtu": bound,
        "mtu_low": g.mtu_low,
        "mtu_high": g.mtu_high,
        "segment": g.packet_size,
        "payload": g.segment,
        "missing_bytes": g.missing,
        "largest_arrived": g.largest_arrived,
        "family": conn.family,
        "side": role,
        "address": sender,
        "seen_from": "receiver",
    }
    return Finding(
        kind=KIND,
        severity=Severity.WARNING,
        summary=(
            f"Connection {conn.id}: likely black hole: {g.missing} bytes sent by the {role} "
            f"{sender} never arrived at {receiver} while small packets did (largest arrived "
            f"{g.largest_arrived} bytes; {g.packet_size}-byte packets probably vanish, "
            "no ICMP too-big)"
        ),
        evidence=tuple(evidence),
        advice=advice(KIND, facts, platform),
        reference="RFC 2923 §2.1, RFC 4821",
        connection=conn.id,
        facts=facts,
    )
