"""The `path` report body (DESIGN.md "Contracts"), JSON-ready.

Layer: report/. A renderer: typed probe results in, plain dicts out; no I/O.
"""

from __future__ import annotations

from typing import Any

from mtuscope.active.hop_trace import HopTraceResult
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.diagnose.path import likely_encapsulation


def path_body(
    pmtu: PathMtuResult,
    trace: HopTraceResult | None,
    mss: MssObservation | None,
    *,
    port: int | None = None,
    pmtu_reverse: int | None = None,
) -> dict[str, Any]:
    """The `path` report body of DESIGN.md "Contracts", JSON-ready.

    Args:
        pmtu: the path MTU search result.
        trace: the hop trace, if one ran (else `hops` is empty and `mtu_drop` null).
        mss: the MSS observations, if measured.
        port: the target port shown; defaults to the probes' port, then the MSS port.
        pmtu_reverse: the path MTU in the other direction, when something measured it.

    Returns:
        `{target, family, pmtu, pmtu_reverse, hops, mtu_drop, mss, probes, stop_reason}`.
    """
    records = [*pmtu.probes, *(trace.probes if trace else ())]
    starts = [pmtu.started_at, *([trace.started_at] if trace else [])]
    ends = [pmtu.ended_at, *([trace.ended_at] if trace else [])]
    drop = trace.mtu_drop if trace else None
    if port is None:
        port = pmtu.dport if pmtu.dport is not None else (mss.port if mss else None)
    return {
        "target": {"address": str(pmtu.dst), "port": port},
        "family": pmtu.family,
        "pmtu": pmtu.path_mtu,
        "pmtu_reverse": pmtu_reverse,
        "hops": [
            {
                "ttl": h.ttl,
                "address": str(h.address) if h.address is not None else None,
                "rtt_ms": h.rtt_ms,
                "mtu": h.mtu,
            }
            for h in (trace.hops if trace else ())
        ],
        "mtu_drop": None
        if drop is None
        else {
            "after_hop": drop.after_hop,
            "at_hop": drop.at_hop,
            "address": str(drop.address) if drop.address is not None else None,
            "at_address": str(drop.at_address) if drop.at_address is not None else None,
            "from_mtu": drop.from_mtu,
            "to_mtu": drop.to_mtu,
            "silent": drop.silent,
            "likely_encapsulation": likely_encapsulation(drop),
        },
        "mss": {
            "server_announced": mss.server_announced if mss else None,
            "effective": mss.effective if mss else None,
            "combined": mss.combined if mss else None,
        },
        "probes": {
            "sent": len(records),
            "answered": sum(1 for r in records if r.reply is not None),
            "seconds": round(max(ends) - min(starts), 3),
        },
        "stop_reason": pmtu.stop_reason.value,
    }
