"""The `compare` report body (DESIGN.md "Contracts"): a `CompareReport` as JSON-ready values.

Layer: report/. A renderer: typed comparison in, plain dicts out; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mtuscope.report.serialize import findings_json, plain
from mtuscope.report.wireshark_filter import compare_filters

if TYPE_CHECKING:
    from mtuscope.diagnose.findings import Finding
    from mtuscope.jobs.compare import CompareReport
    from mtuscope.passive.compare import ConnectionComparison, Handshake


def advice_by_kind(findings: Iterable[Finding]) -> dict[str, str]:
    """The advice of the first finding of each kind, in the order the kinds appear."""
    advice: dict[str, str] = {}
    for f in findings:
        advice.setdefault(f.kind, f.advice)
    return advice


def _flow(h: Handshake) -> dict[str, Any]:
    return {
        "id": h.id,
        "family": h.family,
        "client": {"address": h.client, "port": h.client_port},
        "server": {"address": h.server, "port": h.server_port},
        "first_frame": h.first_frame,
    }


def _match(m: ConnectionComparison) -> dict[str, Any]:
    # The handshake detail is kept for connections with changes only: with a
    # hundred thousand quiet connections it would be most of the document.
    return {
        "a": m.a.id,
        "b": m.b.id,
        "score": m.score,
        "client_side": m.client_side,
        "nat": list(m.nat),
        "handshake": ({"a": plain(m.a), "b": plain(m.b)} if m.changes or m.nat else None),
        "lost": {"client->server": m.lost[0], "server->client": m.lost[1]},
        "offloaded": {"client->server": m.offloaded[0], "server->client": m.offloaded[1]},
        "changes": [plain(c) for c in m.changes],
    }


def body(result: CompareReport) -> dict[str, Any]:
    """The kind-specific fields of a compare report (DESIGN.md "Contracts").

    The findings' advice is repeated once per kind under `advice` so the story
    for people can end with what to do.

    `findings` replaces the envelope's (same place in the document) with each finding
    plus `wireshark_filter`: {capture: display filter selecting its frames there}.

    Returns:
        `findings[]`, `matches[]` ({a, b, changes, ...}), `clock_offset_s`, `transit_s`,
        `only_a[]`, `only_b[]`, `icmp_too_big[]`, `captures`, `advice`.
    """
    r = result.comparison
    o = r.offset
    findings: list[dict[str, Any]] = findings_json(result.findings)
    for row, f in zip(findings, result.findings, strict=True):
        # Frame numbers are per file: one display filter per capture it cites.
        row["wireshark_filter"] = compare_filters(f)
    return {
        "findings": findings,
        "captures": {
            "a": {"path": r.capture_a, "connections": r.connections[0]},
            "b": {"path": r.capture_b, "connections": r.connections[1]},
        },
        "clock_offset_s": o.offset_ns / 1e9 if o.method != "none" else None,
        "transit_s": None if o.transit_ns is None else o.transit_ns / 1e9,
        "clock_offset_method": o.method,
        "clock_offset_pairs": o.pairs,
        "matches": [_match(m) for m in r.matches],
        "only_a": [_flow(h) for h in r.only_a],
        "only_b": [_flow(h) for h in r.only_b],
        "icmp_too_big": [plain(i) for i in r.icmp],
        "advice": advice_by_kind(result.findings),
    }
