"""Rule `segment-exceeds-mss`: segments on the wire larger than the peer's MSS.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Only segments the analysis did not attribute to segmentation offload (see
`OversizedSegments`) and only against a known peer MSS (announced, or the
RFC 9293 default when the peer's handshake had no option). Severity: error when
the peer never acknowledged them, warning when it did (it got through this
time, but breaks as soon as the path is as narrow as the MSS promised).
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import (
    at_most,
    directions,
    frame_evidence,
    mss_option_evidence,
)
from mtuscope.diagnose.rules.phrases import FactsIn, fact_int, upper_first
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import CaptureAnalysis

KIND = "segment-exceeds-mss"
REFERENCE = "RFC 9293 §3.7.1"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for directions that sent segments above the peer's MSS."""
    cap = analysis.capture
    for conn, role, sender, receiver in directions(analysis):
        over = sender.oversized
        if over is None or over.artifact or over.limit_source != "peer-mss":
            continue
        if sender.floor_segments == over.count:
            continue  # only the 536-byte floor: `mss-floor-ignored` says it better
        evidence = [
            frame_evidence(
                cap,
                over.first_frame,
                "tcp.len",
                over.first_size,
                at_most(over.limit),
                note=f"the first of {over.count} segments above the peer's MSS"
                if over.count != 1
                else "the one segment above the peer's MSS",
            ),
        ]
        if over.largest_frame != over.first_frame:
            evidence.append(
                frame_evidence(
                    cap, over.largest_frame, "tcp.len", over.largest, at_most(over.limit)
                )
            )
        peer = "server" if role == "client" else "client"
        note = f"the {peer}'s MSS: the limit for these segments"
        evidence += mss_option_evidence(cap, receiver, note=note)
        facts: Facts = {
            "peer_mss": over.limit,
            "segment": over.largest,
            "count": over.count,
            "acked": 1 if over.acked else 0,
            "family": conn.family,
            "side": role,
            "address": sender.address,
        }
        yield RULE.finding(
            severity=Severity.WARNING if over.acked else Severity.ERROR,
            summary=(
                f"Connection {conn.id}: the {role} {sender.address} sent {over.count} "
                f"segment(s) of up to {over.largest} bytes, above the peer's MSS "
                f"{over.limit}" + ("" if over.acked else "; the peer never acknowledged them")
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn.id,
        )


def advise(f: FactsIn) -> Advice:
    """Offload on the capturing host, or a one-sided clamp: clamp both directions."""
    peer, seg, side = fact_int(f, "peer_mss"), fact_int(f, "segment"), f.get("side") or "a sender"
    size = f" of {seg} bytes" if seg else ""
    lim = f" ({peer})" if peer else ""
    return (
        f"{upper_first(str(side))} sent segments{size} larger than the peer's MSS{lim}. If the "
        "capture was taken on that host, it is segmentation offload (see offload-artifact); "
        "otherwise a middlebox rewrote the MSS in one direction only or the sender ignores it: "
        "clamp the MSS on both directions' SYNs at the same box.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.ERROR, reference=REFERENCE, advise=advise)
