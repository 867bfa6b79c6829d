"""The indexed figures of one result, read from the `path` report an agent sent.

Layer: store/. Pure: a report dict in, a `Figures` out; the ingest path copies
them into the `results` columns, and the event logic compares them round by
round. A report that lacks a contract field is refused with one line naming it
(`ReportError`), so a bad upload becomes an HTTP 422, never a half-stored row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtuscope.errors import UsageError

EXACT_STOPS = frozenset({"converged", "blackhole"})
"""Stop reasons after which the path MTU is exact; any other is a search cut short."""
SEVERITY_ORDER = ("ok", "info", "warning", "error")
CLAMP_KINDS = frozenset({"mss-rewritten"})


class ReportError(UsageError):
    """A result's report is not a `path` report this store can index (one line: which field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """What the dashboard, the events and /metrics read from one result."""

    exact: bool
    pmtu: int | None
    pmtu_lo: int | None
    pmtu_hi: int | None
    pmtu_reverse: int | None
    mss_announced: int | None
    mss_effective: int | None
    mss_combined: int | None
    drop_address: str | None
    drop_ttl: int | None
    drop_from_mtu: int | None
    drop_to_mtu: int | None
    drop_encapsulation: str | None
    clamp_hop: int | None
    finding_kinds: tuple[str, ...]
    worst: str
    probes_sent: int
    seconds: float
    stop_reason: str
    family: int

    def columns(self) -> dict[str, Any]:
        """The `results` columns these figures fill."""
        return {
            "family": self.family,
            "exact": self.exact,
            "pmtu": self.pmtu,
            "pmtu_lo": self.pmtu_lo,
            "pmtu_hi": self.pmtu_hi,
            "pmtu_reverse": self.pmtu_reverse,
            "mss_announced": self.mss_announced,
            "mss_effective": self.mss_effective,
            "mss_combined": self.mss_combined,
            "drop_address": self.drop_address,
            "drop_ttl": self.drop_ttl,
            "drop_from_mtu": self.drop_from_mtu,
            "drop_to_mtu": self.drop_to_mtu,
            "drop_encapsulation": self.drop_encapsulation,
            "clamp_hop": self.clamp_hop,
            "finding_kinds": ",".join(self.finding_kinds),
            "worst": self.worst,
            "probes_sent": self.probes_sent,
            "seconds": self.seconds,
            "stop_reason": self.stop_reason,
        }


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in doc:
        raise ReportError(f"{where}{name}: missing")
    value = doc[name]
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ReportError(f"{where}{name}: {type(value).__name__} where a number was expected")
    return value


def _int_or_none(doc: dict[str, Any], name: str, where: str) -> int | None:
    value: int | None = _field(doc, name, int, where)
    return value


def _labels(encaps: Any) -> str | None:
    """The likely encapsulations' labels, most likely first, as one short string."""
    if not isinstance(encaps, list) or not encaps:
        return None
    labels = [str(e.get("label")) if isinstance(e, dict) else str(e) for e in encaps]
    return ", ".join(labels)[:128]


def figures(report: Any) -> Figures:
    """The indexed figures of a `path` report.

    Raises:
        ReportError: not a dict, not kind "path", or a contract field missing or mistyped.
    """
    if not isinstance(report, dict):
        raise ReportError("report: not a JSON object")
    if report.get("kind") != "path":
        raise ReportError(f"report.kind: {report.get('kind')!r}, want 'path'")
    where = "report."
    stop = report.get("stop_reason")
    if not isinstance(stop, str):
        raise ReportError("report.stop_reason: missing")
    family = report.get("family")
    if family not in (4, 6):
        raise ReportError("report.family: want 4 or 6")
    exact = stop in EXACT_STOPS
    pmtu = _int_or_none(report, "pmtu", where)
    bounds = report.get("pmtu_bounds")
    lo = hi = None
    if isinstance(bounds, dict):
        lo = _int_or_none(bounds, "lo", "report.pmtu_bounds.")
        hi = _int_or_none(bounds, "hi", "report.pmtu_bounds.")
    elif pmtu is not None:
        lo = hi = pmtu
    mss = report.get("mss")
    if not isinstance(mss, dict):
        raise ReportError("report.mss: missing")
    drop = report.get("mtu_drop")
    if drop is not None and not isinstance(drop, dict):
        raise ReportError("report.mtu_drop: not an object")
    findings = report.get("findings")
    if not isinstance(findings, list):
        raise ReportError("report.findings: missing")
    kinds = sorted({str(f.get("kind")) for f in findings if isinstance(f, dict)})
    worst = "ok"
    clamp_hop = None
    for f in findings:
        if not isinstance(f, dict):
            raise ReportError("report.findings[]: not an object")
        sev = f.get("severity")
        if sev in SEVERITY_ORDER and SEVERITY_ORDER.index(sev) > SEVERITY_ORDER.index(worst):
            worst = sev
        facts = f.get("facts")
        if f.get("kind") in CLAMP_KINDS and isinstance(facts, dict):
            hop = facts.get("hop")
            clamp_hop = hop if isinstance(hop, int) else clamp_hop
    probes = report.get("probes")
    if not isinstance(probes, dict):
        raise ReportError("report.probes: missing")
    encaps = drop.get("likely_encapsulation") if drop else None
    return Figures(
        exact=exact and pmtu is not None,
        pmtu=pmtu if exact else None,
        pmtu_lo=lo,
        pmtu_hi=hi,
        pmtu_reverse=_int_or_none(report, "pmtu_reverse", where),
        mss_announced=_int_or_none(mss, "server_announced", "report.mss."),
        mss_effective=_int_or_none(mss, "effective", "report.mss."),
        mss_combined=_int_or_none(mss, "combined", "report.mss."),
        drop_address=drop.get("address") if drop else None,
        drop_ttl=_int_or_none(drop, "at_hop", "report.mtu_drop.") if drop else None,
        drop_from_mtu=_int_or_none(drop, "from_mtu", "report.mtu_drop.") if drop else None,
        drop_to_mtu=_int_or_none(drop, "to_mtu", "report.mtu_drop.") if drop else None,
        drop_encapsulation=_labels(encaps),
        clamp_hop=clamp_hop,
        finding_kinds=tuple(kinds),
        worst=worst,
        probes_sent=_field(probes, "sent", int, "report.probes.") or 0,
        seconds=float(_field(probes, "seconds", (int, float), "report.probes.") or 0.0),
        stop_reason=stop,
        family=family,
    )
