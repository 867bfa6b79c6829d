"""Findings from two capture points, and the `compare` report body.

Layer: diagnose/. Pure functions over `passive.compare.CompareResult`; no I/O,
no wording beyond one-line summaries (the story for people is in
`report/compare_text.py`). Advice comes from calc/.

Findings are aggregated so that a capture of a hundred thousand clamped
connections gives one `mss-rewritten` finding, not a hundred thousand: one
per (kind, direction, values), with the number of connections in `facts` and
evidence frames at both points from the first few. The per-connection detail
is in the body's `matches[].changes`.

Kinds produced: mss-rewritten, isn-rewritten, tcp-option-changed,
lost-between-points, offload-artifact, icmp-too-big.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mtuscope.calc.advice import advise
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.passive.compare import (
    Change,
    CompareResult,
    ConnectionComparison,
    IcmpSeen,
)
from mtuscope.passive.ttl import sender_hint

MAX_EVIDENCE_CONNECTIONS = 3
"""Connections whose frames are cited as evidence in one aggregated finding."""
MAX_EVIDENCE_FRAMES = 6

_OPTION_NAMES = {
    "tcp.options.wscale.shift": "Window scale",
    "tcp.options.sack_perm": "SACK-permitted",
    "tcp.options.timestamp": "Timestamps",
}
_SEVERITY = {
    "mss-rewritten": Severity.INFO,
    "isn-rewritten": Severity.INFO,
    "tcp-option-changed": Severity.WARNING,
    "lost-between-points": Severity.WARNING,
    "offload-artifact": Severity.INFO,
}
_REFERENCE = {
    "mss-rewritten": "RFC 9293 §3.7.1",
    "isn-rewritten": "RFC 9293 §3.4.1",
    "tcp-option-changed": "RFC 7323; RFC 2018",
    "lost-between-points": "RFC 9293 §3.8.1",
    "offload-artifact": "RFC 9293 §3.7.1",
    "icmp-too-big": "RFC 1191; RFC 8201",
}


def _upstream(m: ConnectionComparison, direction: str) -> str:
    """The point a packet of `direction` passes first ("a" when nothing tells)."""
    client = m.client_side or "a"
    if direction == "client->server":
        return client
    return "b" if client == "a" else "a"


def _evidence(
    result: CompareResult, change: Change, *, observed_a: Any = None, observed_b: Any = None
) -> list[Evidence]:
    out = []
    for cap, frames, value in (
        (result.capture_a, change.frames_a, change.a if observed_a is None else observed_a),
        (result.capture_b, change.frames_b, change.b if observed_b is None else observed_b),
    ):
        for f in frames[:MAX_EVIDENCE_FRAMES]:
            out.append(
                Evidence(
                    field=change.field,
                    observed=value if isinstance(value, int | str) else "absent",
                    capture=cap,
                    frame=f,
                    note=change.direction,
                )
            )
    return out


def _group_key(m: ConnectionComparison, c: Change) -> tuple[Any, ...]:
    if c.kind == "mss-rewritten":
        up = _upstream(m, c.direction)
        orig, new = (c.a, c.b) if up == "a" else (c.b, c.a)
        return (c.kind, c.direction, orig, new, up)
    if c.kind == "isn-rewritten":
        return (c.kind, c.direction)
    if c.kind == "tcp-option-changed":
        return (c.kind, c.direction, c.field, c.a, c.b, c.note)
    return (c.kind, c.direction, c.seen_at)


def _summary(
    key: tuple[Any, ...],
    changes: list[Change],
    facts: dict[str, int | str | None],
    r: CompareResult,
) -> str:
    kind, direction = key[0], key[1]
    conns = facts["connections"]
    n = f"{conns} connection{'s' if conns != 1 else ''}"
    name = {"a": f"A ({r.capture_a})", "b": f"B ({r.capture_b})"}
    if kind == "mss-rewritten":
        orig, new, up = key[2], key[3], key[4]
        down = "b" if up == "a" else "a"
        return (
            f"The {direction} MSS is rewritten between the capture points: "
            f"{orig if orig is not None else 'no MSS'} at {up.upper()}, "
            f"{new if new is not None else 'no MSS'} at {down.upper()} ({n})"
        )
    if kind == "isn-rewritten":
        deltas = sorted({c.delta for c in changes if c.delta is not None})
        shown = ", ".join(str(d) for d in deltas[:3]) + (", ..." if len(deltas) > 3 else "")
        return f"The {direction} sequence numbers are offset by {shown} between A and B ({n})"
    if kind == "tcp-option-changed":
        field, a, b, how = key[2], key[3], key[4], key[5]
        return (
            f"{_OPTION_NAMES.get(field, field)} in the {direction} handshake is {how} "
            f"between the capture points: {a} at A, {b} at B ({n})"
        )
    seen = key[2] or "a"
    other = "B" if seen == "a" else "A"
    sizes = sorted({int(v) for c in changes for v in (c.a if seen == "a" else c.b,) if v})
    if kind == "lost-between-points":
        count = facts["count"]
        return (
            f"{count} {direction} segment transmission{'s' if count != 1 else ''} seen at "
            f"{name[seen]} never reached {other} (payload {_sizes(sizes)} bytes; {n})"
        )
    host = changes[0].note.rsplit("coalesced by the ", 1)[-1]
    return (
        f"Capture {name[seen]} was taken on a {host}: {direction} segments of "
        f"{_sizes(sizes)} bytes there were smaller segments at {other} ({n})"
    )


def _sizes(sizes: list[int]) -> str:
    if not sizes:
        return "?"
    if len(sizes) <= 3:
        return "/".join(str(s) for s in sizes)
    return f"{sizes[0]}..{sizes[-1]}"


def _facts(
    key: tuple[Any, ...], changes: list[Change], conns: list[ConnectionComparison]
) -> dict[str, int | str | None]:
    kind, direction = key[0], key[1]
    facts: dict[str, int | str | None] = {
        "direction": direction,
        "connections": len(conns),
        "family": conns[0].a.family,
    }
    if kind == "mss-rewritten":
        facts |= {"original_mss": key[2], "mss": key[3], "upstream": key[4]}
    elif kind == "isn-rewritten":
        facts["offset"] = changes[0].delta
    elif kind == "tcp-option-changed":
        facts |= {"option": _OPTION_NAMES.get(key[2], key[2]), "a": key[3], "b": key[4]}
    else:
        sizes = [int(v) for c in changes for v in (c.a if key[2] == "a" else c.b,) if v]
        total = sum(
            (m.lost if kind == "lost-between-points" else m.offloaded)[
                0 if direction == "client->server" else 1
            ]
            for m in conns
        )
        facts |= {"seen_at": key[2], "segment": max(sizes, default=None), "count": total}
    return facts


def _change_findings(r: CompareResult, platform: str | None) -> list[Finding]:
    groups: dict[tuple[Any, ...], list[tuple[ConnectionComparison, Change]]] = defaultdict(list)
    for m in r.matches:
        for c in m.changes:
            groups[_group_key(m, c)].append((m, c))
    out = []
    for key, items in groups.items():
        kind = key[0]
        changes = [c for _, c in items]
        conns = list({id(m): m for m, _ in items}.values())
        evidence: list[Evidence] = []
        for m in conns[:MAX_EVIDENCE_CONNECTIONS]:
            for c in [c for mm, c in items if mm is m][:2]:
                evidence.extend(_evidence(r, c))
        facts = _facts(key, changes, conns)
        out.append(
            Finding(
                kind=kind,
                severity=_SEVERITY[kind],
                summary=_summary(key, changes, facts, r),
                evidence=tuple(evidence),
                advice=advise(kind, facts, platform=platform),
                reference=_REFERENCE[kind],
                connection=conns[0].a.id,
                facts=facts,
            )
        )
    return out


def _icmp_findings(r: CompareResult, platform: str | None) -> list[Finding]:
    groups: dict[tuple[str, str, int], list[IcmpSeen]] = defaultdict(list)
    for i in r.icmp:
        groups[(i.point, i.sender, i.mtu)].append(i)
    out = []
    for (point, sender, mtu), msgs in groups.items():
        first = msgs[0]
        n = len(msgs)
        facts: dict[str, int | str | None] = {
            "icmp_mtu": mtu,
            "address": sender,
            "ttl": first.ttl,
            "initial_ttl_guess": first.initial_ttl_guess,
            "seen_at": point,
            "count": n,
            "connection": first.connection,
        }
        out.append(
            Finding(
                kind="icmp-too-big",
                severity=Severity.WARNING,
                summary=(
                    f"{point.upper()} ({first.capture}) saw {n} ICMP too-big message"
                    f"{'s' if n != 1 else ''} from {sender} with MTU {mtu} (TTL {first.ttl}, "
                    f"likely started at {first.initial_ttl_guess}: "
                    f"{sender_hint(first.initial_ttl_guess)})"
                ),
                evidence=tuple(
                    Evidence(
                        field="icmp.mtu",
                        observed=mtu,
                        capture=i.capture,
                        frame=i.frame,
                        note=f"ttl {i.ttl}, connection {i.connection}",
                    )
                    for i in msgs[:MAX_EVIDENCE_FRAMES]
                ),
                advice=advise("icmp-too-big", facts, platform=platform),
                reference=_REFERENCE["icmp-too-big"],
                connection=first.connection,
                facts=facts,
            )
        )
    return out


def compare_findings(r: CompareResult, *, platform: str | None = None) -> tuple[Finding, ...]:
    """The findings of a two-point comparison, aggregated over connections.

    Args:
        r: the comparison (`passive.compare.compare_captures`).
        platform: a `calc.snippets.PLATFORMS` name to add configuration lines to advice.

    Returns:
        Findings in a stable order: by kind as listed in the module docstring,
        then by the first connection concerned.

    Raises:
        UsageError: unknown platform.
    """
    order = (
        "mss-rewritten",
        "isn-rewritten",
        "tcp-option-changed",
        "lost-between-points",
        "offload-artifact",
        "icmp-too-big",
    )
    found = _change_findings(r, platform) + _icmp_findings(r, platform)
    return tuple(sorted(found, key=lambda f: (order.index(f.kind), f.connection or 0)))
