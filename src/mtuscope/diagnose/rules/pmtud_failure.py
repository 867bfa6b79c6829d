"""Rule `pmtud-failure`: too-big messages arrive but PMTU discovery does not complete.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Two signatures, per connection direction:
- the ICMP MTU is unusable (zero, below 68/1280, or not smaller than the packet it
  quotes), so the sender cannot act on it (RFC 1191 §5, RFC 8201 §4);
- at least two usable too-big messages quote the sender's packets, and it still
  sends packets bigger than that MTU after the last of them: the signals do not
  reach the sending stack (NAT, load balancer, host firewall) or it ignores them.
Severity: error for the second, warning for the first.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence, icmp_mtu_field
from mtuscope.passive.results import CaptureAnalysis, Connection, IcmpTooBig

KIND = "pmtud-failure"


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for connections whose too-big signals do not take effect.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    by_conn: dict[int, list[IcmpTooBig]] = {}
    for m in analysis.icmp_too_big:
        if m.connection is not None:
            by_conn.setdefault(m.connection, []).append(m)
    for conn in analysis.notable:
        msgs = by_conn.get(conn.id, [])
        for role in ("client", "server"):
            mine = [m for m in msgs if m.direction == role]
            if mine:
                yield from _ignored(analysis, conn, role, mine, platform)
                yield from _unusable(analysis, conn, role, mine, platform)


def _ignored(
    analysis: CaptureAnalysis,
    conn: Connection,
    role: str,
    msgs: list[IcmpTooBig],
    platform: str | None,
) -> Iterator[Finding]:
    usable = [m for m in msgs if m.problem is None]
    if len(usable) < 2:
        return
    sender = conn.client if role == "client" else conn.server
    mtu = min(m.mtu for m in usable)
    last = max(m.frame for m in usable)
    hdr = 40 if conn.family == 4 else 60
    late = [s for s in sender.large_sizes if s.payload + hdr > mtu and s.last_frame > last]
    if not late:
        return
    big = max(late, key=lambda s: s.payload)
    fam = usable[0].family
    evidence = [
        frame_evidence(analysis.capture, m.frame, icmp_mtu_field(fam), m.mtu) for m in usable[:4]
    ]
    evidence.append(
        frame_evidence(
            analysis.capture,
            big.last_frame,
            "tcp.len",
            big.payload,
            mtu - hdr,
            note="still sent after the last too-big message",
        )
    )
    facts: dict[str, int | str | None] = {
        "path_mtu": mtu,
        "icmp_mtu": mtu,
        "messages": len(usable),
        "segment": big.payload + hdr,
        "family": conn.family,
        "side": role,
        "address": sender.address,
    }
    yield Finding(
        kind=KIND,
        severity=Severity.ERROR,
        summary=(
            f"Connection {conn.id}: {len(usable)} too-big messages (MTU {mtu}) quote the "
            f"{role} {sender.address}, yet it still sends {big.payload + hdr}-byte packets "
            f"after them (frame {big.last_frame})"
        ),
        evidence=tuple(evidence),
        advice=advice(KIND, facts, platform),
        reference="RFC 1191 §6.3, RFC 8201 §5.2",
        connection=conn.id,
        facts=facts,
    )


def _unusable(
    analysis: CaptureAnalysis,
    conn: Connection,
    role: str,
    msgs: list[IcmpTooBig],
    platform: str | None,
) -> Iterator[Finding]:
    bad = [m for m in msgs if m.problem is not None]
    if not bad:
        return
    m = bad[0]
    floor = 68 if m.family == 4 else 1280
    expected = f"{floor}..{m.quoted_len - 1}" if m.quoted_len else f">= {floor}"
    facts: dict[str, int | str | None] = {
        "icmp_mtu": m.mtu,
        "problem": m.problem,
        "messages": len(bad),
        "family": conn.family,
        "side": role,
        "address": m.sender,
        "path_mtu": None,
    }
    yield Finding(
        kind=KIND,
        severity=Severity.WARNING,
        summary=(
            f"Connection {conn.id}: {len(bad)} too-big message(s) from {m.sender} carry an "
            f"unusable MTU {m.mtu} ({m.problem}), so the {role} cannot learn the path MTU"
        ),
        evidence=tuple(
            frame_evidence(analysis.capture, b.frame, icmp_mtu_field(b.family), b.mtu, expected)
            for b in bad[:5]
        ),
        advice=advice(KIND, facts, platform),
        reference="RFC 1191 §5, RFC 8201 §4",
        connection=conn.id,
        facts=facts,
    )
