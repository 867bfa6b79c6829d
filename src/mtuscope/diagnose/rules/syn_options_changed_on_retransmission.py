"""Rule `syn-options-changed-on-retransmission`: a SYN or SYN/ACK sent again with other options.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

A retransmitted SYN (or SYN/ACK) carries the same ISN as the first one (RFC 9293
§3.4); when its options differ (another MSS, window scale dropped), the peer
sizes its segments from whichever copy it answered, so the two ends may disagree
on the MSS. Some stacks do it on purpose (dropping options after timeouts, to
get past a middlebox that eats them); a clamping middlebox on only one of
several paths does it too. The connection keeps the first handshake's values.

Severity: warning when the MSS changed (the announced limit itself is in doubt),
info when only other options did.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import frame_evidence
from mtuscope.diagnose.rules.phrases import FactsIn, fact_int
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import CaptureAnalysis

KIND = "syn-options-changed-on-retransmission"
REFERENCE = "RFC 9293 §3.4, §3.7.1"
FIELDS = {
    "mss": "tcp.options.mss_val",
    "wscale": "tcp.options.wscale.shift",
    "sack": "tcp.options.sack_perm",
    "tsopt": "tcp.options.timestamp.tsval",
}
"""Option -> the Wireshark field that shows it."""
NAMES = {"mss": "MSS", "wscale": "window scale", "sack": "SACK-permitted", "tsopt": "timestamps"}


def _text(option: str, value: int | bool | None) -> str:
    if option in ("sack", "tsopt"):
        return "present" if value else "absent"
    return "absent" if value is None else str(value)


def _evidence_value(option: str, value: int | bool | None) -> int | str | None:
    if option in ("sack", "tsopt"):
        return 1 if value else 0
    return None if value is None or isinstance(value, bool) else value


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """One finding per SYN or SYN/ACK retransmission with other options, by frame."""
    cap = analysis.capture
    for ch in analysis.syn_changes:
        what = "SYN/ACK" if ch.syn_ack else "SYN"
        evidence = []
        for option, first, then in ch.changes:
            evidence.append(
                frame_evidence(
                    cap,
                    ch.first_frame,
                    FIELDS[option],
                    _evidence_value(option, first),
                    note=f"first {what}: the connection keeps this",
                )  # fmt: skip
            )
            evidence.append(
                frame_evidence(
                    cap,
                    ch.frame,
                    FIELDS[option],
                    _evidence_value(option, then),
                    _evidence_value(option, first),
                    note=f"{what} retransmitted, same ISN",
                )  # fmt: skip
            )
        changes = ", ".join(
            f"{NAMES[o]} {_text(o, first)} -> {_text(o, then)}" for o, first, then in ch.changes
        )
        mss = {o: (first, then) for o, first, then in ch.changes}.get("mss")
        facts: Facts = {
            "side": ch.role,
            "first_frame": ch.first_frame,
            "frame": ch.frame,
            "first_mss": None if mss is None else _evidence_value("mss", mss[0]),
            "mss": None if mss is None else _evidence_value("mss", mss[1]),
        }
        yield RULE.finding(
            severity=Severity.WARNING if mss is not None else Severity.INFO,
            summary=(
                f"Connection {ch.connection}: the {ch.role} retransmitted its {what} "
                f"(frame {ch.frame}, first frame {ch.first_frame}) with other options: {changes}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=ch.connection,
        )


def advise(f: FactsIn) -> Advice:
    """Which copy counts, and where to look for the one that changed it."""
    first, then = fact_int(f, "first_mss"), fact_int(f, "mss")
    mss = (
        f" The MSS went from {first if first is not None else 'none'} to "
        f"{then if then is not None else 'none'}: the peer sizes its segments from the copy it "
        "answered, so size the path for the smaller one."
        if first is not None or then is not None
        else ""
    )
    return (
        "The same SYN (same ISN) was sent again with other options; this report keeps the first "
        f"handshake's values.{mss} A stack that drops options after SYN timeouts is trying to "
        "get past a middlebox that discards them; a middlebox that clamps or strips on only "
        "one of several paths does the same: capture on both sides and run mtuscope compare "
        "to see where the options change.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
