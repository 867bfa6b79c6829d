"""The `path` report body (DESIGN.md "Contracts"), JSON-ready.

Layer: report/. A renderer: typed results in, plain dicts out; no I/O.
`body(result)` renders a `jobs.path.PathReport` (probe, trace, sweep);
`path_body` renders a bare path MTU search (the two-ended check's reverse
measurement) with the same pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtuscope.active.hop_trace import HopTraceResult, MtuDrop
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import ProbeRecord, unreachable_reason, unreachable_symbol
from mtuscope.active.size_engine import ProbeTotals, totals
from mtuscope.active.sweep import SweepResult
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.mss_owner import path_reading
from mtuscope.diagnose.rules.mtu_drop import likely_encapsulation

if TYPE_CHECKING:
    from mtuscope.jobs.path import PathReport


def body(result: PathReport) -> dict[str, Any]:
    """The "path" body of a probe, trace or sweep report, in the contract's order."""
    obs = result.observations
    out = _head(
        address=str(obs.dst),
        port=obs.port,
        family=obs.family,
        pmtu=result.pmtu,
        bounds=result.pmtu_bounds,
        pmtu_reverse=None,
        trace=obs.trace,
        mss=obs.mss,
    )
    out["mss"].update(mss_verdict(obs))
    out["probes"] = {**_totals(result.probes), "records": records_json(result.records)}
    out["stop_reason"] = result.stop_reason.value
    if result.search is not None:
        out["search"] = {"sent": result.search.sent, "seconds": round(result.search.seconds, 3)}
    if obs.sweep is not None:
        out["sweep"] = sweep_rows(obs.sweep)
    out["transport"] = result.transport.value
    out["probe_kind"] = result.probe_kind.value
    out["unreachable"] = unreachable_fields(result.unreachable, obs.family)
    out["port_state"] = result.port_state.value if result.port_state is not None else None
    if result.two_ended is not None:
        # middlebox_json renders the reverse search with this module's path_body.
        from mtuscope.report.middlebox_json import two_ended_fields

        out.update(two_ended_fields(result.two_ended))
    return out


def path_body(
    pmtu: PathMtuResult,
    trace: HopTraceResult | None,
    mss: MssObservation | None,
    *,
    port: int | None = None,
) -> dict[str, Any]:
    """The `path` body of one path MTU search (and a trace toward the same host).

    Args:
        pmtu: the path MTU search result.
        trace: the hop trace, if one ran (else `hops` is empty and `mtu_drop` null).
        mss: the MSS observations, if measured.
        port: the target port shown; defaults to the probes' port, then the MSS port.

    Returns:
        `{target, family, pmtu, pmtu_bounds, pmtu_reverse, hops, mtu_drop, mss, probes,
        stop_reason}`; `pmtu` null unless the search is exact.
    """
    if port is None:
        port = pmtu.dport if pmtu.dport is not None else (mss.port if mss else None)
    out = _head(
        address=str(pmtu.dst),
        port=port,
        family=pmtu.family,
        pmtu=pmtu.path_mtu if pmtu.exact else None,
        bounds=pmtu.bounds,
        pmtu_reverse=None,
        trace=trace,
        mss=mss,
    )
    out["mss"].update(
        mss_verdict(PathObservations(dst=pmtu.dst, search=pmtu, trace=trace, mss=mss))
    )
    records = (*pmtu.probes, *(trace.probes if trace else ()))
    out["probes"] = {
        **_totals(totals(pmtu, *([trace] if trace else []))),
        "records": records_json(records),
    }
    out["stop_reason"] = pmtu.stop_reason.value
    return out


def bounds_json(bounds: tuple[int | None, int] | None) -> dict[str, int | None] | None:
    """`{lo, hi}`: the path MTU lies in `lo..hi` bytes (`lo` null: nothing got through)."""
    return None if bounds is None else {"lo": bounds[0], "hi": bounds[1]}


def records_json(records: tuple[ProbeRecord, ...]) -> list[dict[str, Any]]:
    """One JSON object per probe, in the order sent (scamper's JSON keeps every probe):
    what was sent (size, TTL, flow), when (seconds after the first probe), what came
    back and from whom, the MTU it quoted and the round-trip time."""
    start = min((r.sent_at for r in records), default=0.0)
    return [record_json(r, start) for r in records]


def record_json(r: ProbeRecord, start: float) -> dict[str, Any]:
    """One probe record as JSON; `sent_s` counts from `start` (the run's first probe)."""
    return {
        "id": r.probe.id,
        "size": r.probe.size,
        "ttl": r.probe.ttl,
        "kind": r.probe.kind.value,
        "flow": probe_flow(r),
        "sent_s": round(r.sent_at - start, 6),
        "outcome": r.outcome.value,
        "reply": r.reply.kind.value if r.reply is not None else None,
        "from": str(r.reply.from_addr) if r.reply and r.reply.from_addr else None,
        "mtu": r.reply.mtu if r.reply is not None else None,
        "rtt_ms": round(r.rtt * 1000.0, 3) if r.rtt is not None else None,
    }


def probe_flow(record: ProbeRecord) -> str:
    """The probe's flow as a person reads it: kind, destination and port."""
    p = record.probe
    where = (
        str(p.dst)
        if p.dport is None
        else (f"[{p.dst}]:{p.dport}" if p.family == 6 else f"{p.dst}:{p.dport}")
    )
    return f"{p.kind.value} {where}"


def _head(
    *,
    address: str,
    port: int | None,
    family: int,
    pmtu: int | None,
    bounds: tuple[int | None, int] | None,
    pmtu_reverse: int | None,
    trace: HopTraceResult | None,
    mss: MssObservation | None,
) -> dict[str, Any]:
    """The fields before `probes`: target, family, pmtu (exact only) and pmtu_bounds,
    pmtu_reverse, hops, mtu_drop, mss."""
    drop = trace.mtu_drop if trace else None
    return {
        "target": {"address": address, "port": port},
        "family": family,
        "pmtu": pmtu,
        "pmtu_bounds": bounds_json(bounds),
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
        "mtu_drop": None if drop is None else _drop(drop),
        # Every drop, nearest first, each with its own encapsulation guess; `mtu_drop` is
        # the one that sets the path MTU (the last).
        "mtu_drops": [_drop(d) for d in (trace.drops if trace else ())],
        "mss": {
            "server_announced": mss.server_announced if mss else None,
            "effective": mss.effective if mss else None,
            "combined": mss.combined if mss else None,
            # Only when `--download` ran: the MSS object of every other report stays as it was.
            **({"download": _download(mss)} if mss is not None and mss.transfer else {}),
        },
    }


def _download(mss: MssObservation) -> dict[str, Any] | None:
    """The download `probe --download` made: what it sent, what came, the verdict."""
    t = mss.transfer
    if t is None or mss.verdict is None:
        return None
    return {
        "request": t.request.value,
        "expected_bytes": t.expected_bytes,
        "bytes": t.moved_bytes,
        "largest_segment": t.largest_segment,
        "largest_segment_from": "tcp_info.rcv_mss",
        "server_done": t.server_done,
        "verdict": mss.verdict.value,
    }


def mss_verdict(obs: PathObservations) -> dict[str, Any]:
    """The MSS the verdict used and whose it is: `compared` (an MSS option value: the
    kernel's send MSS plus the 12-byte timestamp option when on), `timestamps`, `owner`
    ("server" | "clamp" | "path" | null), `owner_proven`, `path_allows` (path MTU - headers)."""
    read = path_reading(obs)
    return {
        "compared": read.mss if read else None,
        "timestamps": obs.mss.timestamps if obs.mss else None,
        "owner": str(read.owner) if read else None,
        "owner_proven": read.proven if read else None,
        "path_allows": read.path_allows if read else None,
    }


def _drop(drop: MtuDrop) -> dict[str, Any]:
    return {
        "after_hop": drop.after_hop,
        "at_hop": drop.at_hop,
        "address": str(drop.address) if drop.address is not None else None,
        "at_address": str(drop.at_address) if drop.at_address is not None else None,
        "from_mtu": drop.from_mtu,
        "to_mtu": drop.to_mtu,
        "silent": drop.silent,
        "likely_encapsulation": likely_encapsulation(drop),
    }


def unreachable_fields(record: ProbeRecord | None, family: int) -> dict[str, Any] | None:
    """The destination-unreachable that ended the path, as traceroute marks it:
    `{code, symbol, reason, from, ttl}`; None when none did."""
    if record is None or record.reply is None:
        return None
    reply = record.reply
    code = reply.code
    return {
        "code": code,
        "symbol": unreachable_symbol(family, code) if code is not None else None,
        "reason": unreachable_reason(family, code) if code is not None else "unreachable",
        "from": str(reply.from_addr) if reply.from_addr is not None else None,
        "ttl": record.probe.ttl,
    }


def _totals(counts: ProbeTotals) -> dict[str, Any]:
    return {"sent": counts.sent, "answered": counts.answered, "seconds": round(counts.seconds, 3)}


def sweep_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One JSON row per size of a DF sweep."""
    return [
        {
            "size": r.size,
            "sent": r.sent,
            "reached": r.reached,
            "too_big": r.too_big,
            "lost": r.lost,
            "other": r.other,
            "mtus": list(r.mtus),
            "min_rtt_ms": r.min_rtt_ms,
        }
        for r in result.rows
    ]
