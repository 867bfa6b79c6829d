"""Rule `oversized-mss`: the MSS in force plus headers exceeds a path MTU learned from ICMP.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Fires only with evidence of the path MTU: a usable ICMP too-big message quoting
the sender's packets on this connection. The MSS in force is what the peer
announced (or the RFC 9293 default); plus 40 (IPv4) or 60 (IPv6) bytes of
headers it must fit the path MTU, else every full segment depends on PMTUD.
A warning: the too-big message arrived, so PMTUD can repair it; pmtud-failure
is the error for when it does not.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import HEADERS, advice, frame_evidence, icmp_mtu_field
from mtuscope.passive.finish import DEFAULT_MSS
from mtuscope.passive.results import CaptureAnalysis

KIND = "oversized-mss"


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for MSS values too big for an ICMP-reported path MTU.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    cap = analysis.capture
    for conn in analysis.notable:
        hdr = HEADERS[conn.family]
        for role, sender, receiver in conn.endpoints():
            pmtu = sender.path_mtu
            if pmtu is None or receiver.handshake_frame is None:
                continue
            limit = receiver.mss if receiver.mss is not None else DEFAULT_MSS[conn.family]
            if limit + hdr <= pmtu:
                continue
            icmp = next(
                m
                for m in analysis.icmp_too_big
                if m.connection == conn.id
                and m.direction == role
                and m.mtu == pmtu
                and m.problem is None
            )
            evidence = [
                frame_evidence(
                    cap,
                    receiver.handshake_frame,
                    "tcp.options.mss_val",
                    receiver.mss if receiver.mss is not None else "absent",
                    pmtu - hdr,
                ),
                frame_evidence(cap, icmp.frame, icmp_mtu_field(icmp.family), pmtu, limit + hdr),
            ]
            if sender.max_segment_frame is not None and sender.max_segment + hdr > pmtu:
                evidence.append(
                    frame_evidence(
                        cap, sender.max_segment_frame, "tcp.len", sender.max_segment, pmtu - hdr
                    )
                )
            facts: dict[str, int | str | None] = {
                "mss": limit,
                "path_mtu": pmtu,
                "icmp_mtu": pmtu,
                "family": conn.family,
                "side": "client" if role == "server" else "server",
                "address": receiver.address,
            }
            # A warning, not an error: the too-big message got through, so PMTUD can
            # repair it (at one lost round trip per new flow); when it does not, the
            # pmtud-failure rule reports the error.
            yield Finding(
                kind=KIND,
                severity=Severity.WARNING,
                summary=(
                    f"Connection {conn.id}: MSS {limit} of {receiver.address} plus {hdr} bytes "
                    f"of headers exceeds the path MTU {pmtu} reported by {icmp.sender}"
                ),
                evidence=tuple(evidence),
                advice=advice(KIND, facts, platform),
                reference="RFC 9293 §3.7.1, RFC 1191",
                connection=conn.id,
                facts=facts,
            )
