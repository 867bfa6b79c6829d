"""Rule `undersized-mss`: the effective MSS is below 1380 (IPv4) or 1220 (IPv6).

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

The effective MSS of a direction is the peer's MSS (or the RFC 9293 default
when its handshake had no option) lowered by any ICMP too-big path MTU. A
small one costs packets per byte. Connections with the same (role, effective
MSS, announced MSS) are one finding. Severity: warning below 1220 bytes for
IPv4 (a clamp or MTU far below any common tunnel) and for IPv6 (below
1280 - 60, the protocol minimum); info otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence
from mtuscope.passive.results import CaptureAnalysis, Connection

KIND = "undersized-mss"
THRESHOLD = {4: 1380, 6: 1220}
WARN_BELOW = 1220
MAX_CONNECTIONS = 5


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for small effective MSS values.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    groups: dict[tuple[int, str, int, int | None], list[Connection]] = {}
    for conn in analysis.connections:
        for role, sender, receiver in conn.endpoints():
            eff = sender.effective_mss
            if eff is None or eff >= THRESHOLD[conn.family]:
                continue
            if receiver.handshake_frame is None and not conn.too_big_frames:
                continue
            groups.setdefault((conn.family, role, eff, receiver.mss), []).append(conn)
    for (family, role, eff, announced), conns in groups.items():
        evidence: list[Evidence] = []
        for conn in conns[:MAX_CONNECTIONS]:
            sender, receiver = (
                (conn.client, conn.server) if role == "client" else (conn.server, conn.client)
            )
            if receiver.handshake_frame is not None:
                evidence.append(
                    frame_evidence(
                        analysis.capture,
                        receiver.handshake_frame,
                        "tcp.options.mss_val",
                        announced if announced is not None else "absent",
                        THRESHOLD[family],
                        note=f"connection {conn.id}: effective MSS {eff} for the {role}",
                    )
                )
            elif conn.too_big_frames:
                evidence.append(
                    frame_evidence(
                        analysis.capture,
                        conn.too_big_frames[0],
                        "icmp.mtu" if family == 4 else "icmpv6.mtu",
                        sender.path_mtu,
                        note=f"connection {conn.id}: effective MSS {eff}",
                    )
                )
        first = conns[0]
        sender = first.client if role == "client" else first.server
        facts: dict[str, int | str | None] = {
            "mss": eff,
            "peer_mss": announced,
            "path_mtu": sender.path_mtu,
            "family": family,
            "side": role,
            "connections": len(conns),
        }
        why = f"announced MSS {announced}" if announced is not None else "no MSS option"
        yield Finding(
            kind=KIND,
            severity=Severity.WARNING if eff < WARN_BELOW else Severity.INFO,
            summary=(
                f"{len(conns)} IPv{family} connection(s) let the {role} send at most {eff} "
                f"bytes per segment ({why}), below {THRESHOLD[family]}"
            ),
            evidence=tuple(evidence),
            advice=advice(KIND, facts, platform),
            reference="RFC 9293 §3.7.1",
            connection=first.id,
            facts=facts,
        )
