"""Rule `icmp-too-big`: ICMP fragmentation-needed / ICMPv6 packet-too-big messages seen.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

One finding per (sender, MTU, connection): many messages from one router for one
flow are one fact. Severity: warning when the MTU is unusable (zero, below the
protocol minimum, or not smaller than the packet it quotes) or below 576 (IPv4)
or 1280 (IPv6) bytes, info otherwise (PMTUD is doing its job).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import (
    advice,
    frame_evidence,
    icmp_mtu_field,
    ttl_field,
)
from mtuscope.passive.results import CaptureAnalysis, IcmpTooBig

KIND = "icmp-too-big"
MAX_FRAMES = 5
MIN_MTU = {4: 576, 6: 1280}
"""Below these a too-big message is a warning (RFC 1122 §3.3.3, RFC 8200 §5)."""


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for the too-big messages of `analysis`.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings, in order of each group's first message.
    """
    groups: dict[tuple[str, int, int | None], list[IcmpTooBig]] = defaultdict(list)
    for msg in analysis.icmp_too_big:
        groups[(msg.sender, msg.mtu, msg.connection)].append(msg)
    for (sender, mtu, conn), msgs in groups.items():
        first = msgs[0]
        fam = first.family
        unusable = first.problem is not None
        severity = Severity.WARNING if unusable or mtu < MIN_MTU[fam] else Severity.INFO
        quoted = (
            f"{_where(first.quoted_src, first.quoted_sport)} -> "
            f"{_where(first.quoted_dst, first.quoted_dport)}"
            if first.quoted_src and first.quoted_dst
            else "an unquoted packet"
        )
        target = f"connection {conn}" if conn is not None else "no captured connection"
        problem = f" ({first.problem} MTU: unusable)" if unusable else ""
        summary = (
            f"{len(msgs)} ICMP too-big message(s) from {sender} report MTU {mtu}{problem} "
            f"for {quoted} ({target}); initial TTL about {first.initial_ttl_guess}: "
            f"{first.sender_hint}"
        )
        evidence = [
            frame_evidence(
                analysis.capture,
                m.frame,
                icmp_mtu_field(fam),
                m.mtu,
                m.quoted_len - 1 if m.quoted_len else None,
                note=f"quoted packet of {m.quoted_len} bytes" if m.quoted_len else None,
            )
            for m in msgs[:MAX_FRAMES]
        ]
        evidence.append(
            frame_evidence(
                analysis.capture,
                first.frame,
                ttl_field(fam),
                first.ttl,
                first.initial_ttl_guess,
                note=f"sender likely {first.sender_hint}",
            )
        )
        facts: dict[str, int | str | None] = {
            "icmp_mtu": mtu,
            "path_mtu": mtu if not unusable else None,
            "address": sender,
            "family": fam,
            "ttl": first.ttl,
            "initial_ttl": first.initial_ttl_guess,
            "messages": len(msgs),
            "quoted_len": first.quoted_len,
            "side": first.direction,
            "problem": first.problem,
        }
        yield Finding(
            kind=KIND,
            severity=severity,
            summary=summary,
            evidence=tuple(evidence),
            advice=advice(KIND, facts, platform),
            reference="RFC 1191 §4, RFC 8201 §4",
            connection=conn,
            facts=facts,
        )


def _where(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"
