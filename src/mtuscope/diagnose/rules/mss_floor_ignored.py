"""Rule `mss-floor-ignored`: the peer announced an MSS below 536 and got 536-byte segments.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Windows (Vista and later) never sends segments below 536 bytes of payload
whatever MSS the peer announces; a peer or middlebox announcing less (to
squeeze through a narrow tunnel) then gets 536-byte segments that may not fit.
A warning; an error when such a segment is retransmitted, never acknowledged, until
the connection is reset, closed or abandoned (the session died of it).
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import directions, frame_evidence, mss_option_evidence
from mtuscope.diagnose.rules.phrases import FactsIn, fact_int
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import BlackHole, CaptureAnalysis, ReceiverBlackHole
from mtuscope.wire.sizes import IPV4_MIN_REASSEMBLY, TCP_DEFAULT_MSS_IPV4

KIND = "mss-floor-ignored"
FLOOR = TCP_DEFAULT_MSS_IPV4
"""The segment size Windows never goes below, whatever MSS the peer announces (536)."""


REFERENCE = "RFC 9293 §3.7.1, RFC 1122 §4.2.2.6"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for senders that used 536-byte segments against a smaller MSS."""
    cap = analysis.capture
    for conn, role, sender, receiver in directions(analysis):
        if not sender.floor_segments or sender.floor_first_frame is None:
            continue
        evidence = [
            frame_evidence(
                cap,
                sender.floor_first_frame,
                "tcp.len",
                FLOOR,
                receiver.mss,
                note=f"first of {sender.floor_segments} {FLOOR}-byte segment(s)",
            )
        ]
        evidence += mss_option_evidence(cap, receiver, note=f"announced below {FLOOR}")
        stall = _stall(sender.black_holes)
        facts: Facts = {
            "peer_mss": receiver.mss,
            "segment": FLOOR,
            "count": sender.floor_segments,
            "family": conn.family,
            "side": role,
            "address": sender.address,
            "retransmissions": stall.retransmissions if stall else None,
            "end_frame": stall.end_frame if stall else None,
            "end": (stall.end or "abandoned") if stall else None,
        }
        dies = ""
        if stall is not None:
            evidence += [
                frame_evidence(
                    cap,
                    f,
                    "tcp.len",
                    FLOOR,
                    receiver.mss,
                    note=f"retransmission {i + 1} of {stall.retransmissions}, never acknowledged",
                )
                for i, f in enumerate(stall.frames[:5])
            ]
            if stall.end_frame is not None:
                reset = stall.end == "rst"
                evidence.append(
                    frame_evidence(
                        cap,
                        stall.end_frame,
                        "tcp.flags.reset" if reset else "tcp.flags.fin",
                        1,
                        note="the connection ends: the segment never got through",
                    )
                )
                how = "reset" if reset else "closed"
                dies = (
                    f"; one was retransmitted {stall.retransmissions} times unacknowledged "
                    f"until the connection was {how} (frame {stall.end_frame})"
                )
            else:
                dies = (
                    f"; one was retransmitted {stall.retransmissions} times unacknowledged "
                    "and the connection was abandoned"
                )
        yield RULE.finding(
            severity=Severity.ERROR if stall is not None else None,
            summary=(
                f"Connection {conn.id}: {receiver.address} announced MSS {receiver.mss} "
                f"but the {role} {sender.address} sent {sender.floor_segments} {FLOOR}-byte "
                f"segment(s) (the Windows MSS floor){dies}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn.id,
        )


def _stall(holes: tuple[BlackHole | ReceiverBlackHole, ...]) -> BlackHole | None:
    """A floor-sized segment retransmitted, never acknowledged, until the session died."""
    return next((h for h in holes if isinstance(h, BlackHole) and h.size == FLOOR), None)


def advise(f: FactsIn) -> Advice:
    """Let the peer announce at least the floor: raise the narrow MTU, or clamp."""
    peer = fact_int(f, "peer_mss")
    said = f" {peer}" if peer else ""
    return (
        f"The peer announced an MSS{said} below {FLOOR} and the sender used {FLOOR} anyway "
        "(Windows Vista and later enforce that floor), so its segments exceed the path: raise "
        f"the MTU of the narrow link to at least {IPV4_MIN_REASSEMBLY} (IPv4) so the peer can "
        f"announce {FLOOR} or more, or clamp at the router in front of it."
        + (" Here a segment never got through and the session died of it." if f.get("end") else ""),
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
