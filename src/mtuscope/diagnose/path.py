"""Findings from active path measurements, and the `path` report body.

Layer: diagnose/. Pure functions over the frozen results of active/ engines;
no I/O, no probing, no wording beyond the one-line summary. Advice and the
likely encapsulation of a drop come from calc/. Every finding names the probes
(and hops) behind it: `Evidence(probe=<probe id>, hop=<ttl>)`.

Kinds produced: mtu-drop, pmtud-blackhole, pmtud-failure, undersized-pmtu,
oversized-mss, undersized-mss (DESIGN.md "Finding kinds").
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from mtuscope.active.hop_trace import HopTraceResult, MtuDrop
from mtuscope.active.mss import Direction, MssObservation, TransferVerdict
from mtuscope.active.probe import ProbeOutcome, ProbeRecord, SearchStop
from mtuscope.active.size_engine import ProbeRun
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MIN_MTU


@dataclass(frozen=True, slots=True, kw_only=True)
class _Measured:
    """What the rules below read of a path MTU, whichever verb measured it (adapter)."""

    dst: IPv4Address | IPv6Address
    family: int
    path_mtu: int | None
    stop_reason: SearchStop
    probes: tuple[ProbeRecord, ...]

    @classmethod
    def of(
        cls,
        run: ProbeRun,
        path_mtu: int | None,
        *,
        stop: SearchStop | None = None,
        probes: tuple[ProbeRecord, ...] | None = None,
    ) -> _Measured:
        return cls(
            dst=run.dst,
            family=run.family,
            path_mtu=path_mtu,
            stop_reason=run.stop_reason if stop is None else stop,
            probes=run.probes if probes is None else probes,
        )


MIN_PMTU = {4: 576, 6: 1280}
"""Below these a path MTU is undersized: RFC 1122 §3.3.3 (576), RFC 8200 §5 (1280)."""

MIN_GOOD_MSS = {4: 1380, 6: 1220}
"""An effective MSS below these costs extra packets per byte (DESIGN.md undersized-mss)."""

HEADERS = {4: 40, 6: 60}
"""IP plus TCP headers without options, bytes."""

Facts = dict[str, int | str | None]


def _finding(
    kind: str,
    severity: Severity,
    summary: str,
    evidence: tuple[Evidence, ...],
    facts: Facts,
    reference: str,
    platform: str | None,
) -> Finding:
    from mtuscope.calc.advice import advise  # import at use, as calc/ asks of its callers

    return Finding(
        kind=kind,
        severity=severity,
        summary=summary,
        evidence=evidence,
        advice=advise(kind, facts, platform=platform),
        reference=reference,
        facts=facts,
    )


def likely_encapsulation(drop: MtuDrop, limit: int = 3) -> list[dict[str, Any]]:
    """The encapsulations that would explain a drop, most common first.

    Args:
        drop: the drop.
        limit: at most this many.

    Returns:
        JSON-ready dicts `{label, stack, overhead, reference}`; empty when none matches
        or the MTUs are outside what calc/ explains.
    """
    from mtuscope.calc.explain import explain_mtu  # import at use, as calc/ asks of its callers

    try:
        found = explain_mtu(drop.to_mtu, from_mtu=drop.from_mtu, limit=limit)
    except UsageError:
        return []
    return [
        {"label": e.label, "stack": list(e.stack), "overhead": e.overhead, "reference": e.reference}
        for e in found
    ]


def _largest_reached(pmtu: _Measured) -> ProbeRecord | None:
    reached = [r for r in pmtu.probes if r.outcome is ProbeOutcome.REACHED]
    return max(reached, key=lambda r: (r.probe.size, -r.probe.id)) if reached else None


def _exact(pmtu: _Measured) -> ProbeRecord | None:
    """The probe behind the path MTU, when the search ended with an exact answer."""
    if pmtu.stop_reason not in (SearchStop.CONVERGED, SearchStop.BLACKHOLE):
        return None
    return _largest_reached(pmtu)


def _where(hop: int, address: object) -> str:
    return "this host" if hop == 0 else f"hop {hop} {address if address else '(no reply)'}"


def _between(drop: MtuDrop) -> str:
    return (
        f"between {_where(drop.after_hop, drop.address)} and {_where(drop.at_hop, drop.at_address)}"
    )


def _drop_findings(
    trace: HopTraceResult, sizes: dict[int, int], platform: str | None
) -> list[Finding]:
    out: list[Finding] = []
    for drop in trace.drops:
        labels = [e["label"] for e in likely_encapsulation(drop)]
        likely = f"; likely {' or '.join(labels)}" if labels else ""
        silent = ", with no too-big message" if drop.silent else ""
        first = "interface MTU" if drop.after_hop == 0 else "largest size to reach this hop"
        evidence = (
            Evidence(
                field="hop.mtu",
                observed=drop.from_mtu,
                hop=drop.after_hop,
                probe=drop.reached_probe,
                note=first,
            ),
            *(
                Evidence(
                    field="probe.size",
                    observed=sizes.get(pid),
                    expected=f"<= {drop.to_mtu}",
                    hop=drop.at_hop,
                    probe=pid,
                    note="did not get to this hop",
                )
                for pid in drop.refused_probes
            ),
            Evidence(
                field="hop.mtu", observed=drop.to_mtu, expected=drop.from_mtu, hop=drop.at_hop
            ),
        )
        facts: Facts = {
            "from_mtu": drop.from_mtu,
            "to_mtu": drop.to_mtu,
            "path_mtu": drop.to_mtu,
            "hop": drop.at_hop,
            "after_hop": drop.after_hop,
            "address": str(drop.address) if drop.address else None,
            "family": trace.family,
            "likely_encapsulation": " or ".join(labels) or None,
        }
        summary = (
            f"MTU drops to {drop.to_mtu} {_between(drop)} (from {drop.from_mtu}{silent}){likely}"
        )
        severity = Severity.WARNING if drop.silent else Severity.INFO
        ref = "RFC 1191 §3; RFC 8201 §4"
        out.append(_finding("mtu-drop", severity, summary, evidence, facts, ref, platform))
        if drop.after_hop == 0:
            # Nobody stands between the host and its first link to send a too-big message.
            summary = (
                f"This host's interface MTU {drop.from_mtu} exceeds what its first link "
                f"carries ({drop.to_mtu}): no router can send a too-big message for it"
            )
            facts = {"path_mtu": drop.to_mtu, "family": trace.family, "from_mtu": drop.from_mtu}
            ref = "RFC 1191 §3; RFC 4821 §1"
            out.append(
                _finding("pmtud-failure", Severity.ERROR, summary, evidence, facts, ref, platform)
            )
    return out


def _blackhole(
    pmtu: _Measured, trace: HopTraceResult | None, platform: str | None
) -> Finding | None:
    best = _exact(pmtu)
    if pmtu.stop_reason is not SearchStop.BLACKHOLE or best is None:
        return None
    mtu = best.probe.size
    silent = sorted(
        (r for r in pmtu.probes if r.outcome is ProbeOutcome.LOST and r.probe.size > mtu),
        key=lambda r: (r.probe.size, r.probe.id),
    )[:3]
    drops = [d for d in (trace.drops if trace else ()) if d.silent]
    # The silent drop that sets the path MTU, else the last silent one.
    drop = next((d for d in drops if d.to_mtu == mtu), drops[-1] if drops else None)
    evidence = (
        Evidence(field="probe.size", observed=mtu, probe=best.probe.id, note="reached"),
        *(
            Evidence(
                field="probe.size",
                observed=r.probe.size,
                expected="reply or too-big message",
                probe=r.probe.id,
                note="no reply",
            )
            for r in silent
        ),
    )
    facts: Facts = {
        "path_mtu": mtu,
        "family": pmtu.family,
        "hop": drop.at_hop if drop else None,
        "from_mtu": drop.from_mtu if drop else None,
        "address": str(drop.address) if drop and drop.address else None,
    }
    where = f" {_between(drop)}" if drop else ""
    summary = f"Packets to {pmtu.dst} above {mtu} bytes vanish without a too-big message{where}"
    ref = "RFC 2923 §2.1; RFC 4821"
    return _finding("pmtud-blackhole", Severity.ERROR, summary, evidence, facts, ref, platform)


def _bogus(records: list[ProbeRecord], pmtu: _Measured, platform: str | None) -> Finding | None:
    bogus = [r for r in records if r.outcome is ProbeOutcome.TOO_BIG_BOGUS and r.reply]
    if not bogus:
        return None
    senders = sorted({str(r.reply.from_addr or "this host") for r in bogus if r.reply})
    values = sorted({r.reply.mtu for r in bogus if r.reply and r.reply.mtu is not None})
    facts: Facts = {
        "path_mtu": pmtu.path_mtu,
        "family": pmtu.family,
        "icmp_mtu": values[0] if values else None,
    }
    summary = (
        f"{len(bogus)} too-big messages from {', '.join(senders)} carried a useless MTU "
        f"({', '.join(map(str, values)) or 'none'}): PMTU discovery cannot use them"
    )
    evidence = tuple(
        Evidence(
            field="icmp.mtu",
            observed=r.reply.mtu if r.reply else None,
            expected=f"{MIN_MTU[pmtu.family]}..{r.probe.size - 1}",
            probe=r.probe.id,
            note=f"refused a {r.probe.size}-byte probe",
        )
        for r in bogus[:3]
    )
    ref = "RFC 1191 §4; RFC 8201 §4"
    return _finding("pmtud-failure", Severity.WARNING, summary, evidence, facts, ref, platform)


def _undersized_pmtu(pmtu: _Measured, platform: str | None) -> Finding | None:
    best = _exact(pmtu)
    floor = MIN_PMTU[pmtu.family]
    if best is None or best.probe.size >= floor:
        return None
    mtu = best.probe.size
    evidence = (
        Evidence(
            field="probe.size",
            observed=mtu,
            expected=f">= {floor}",
            probe=best.probe.id,
            note="largest size that got through",
        ),
    )
    facts: Facts = {"path_mtu": mtu, "family": pmtu.family}
    summary = f"The path MTU to {pmtu.dst} is {mtu}, below {floor}"
    ref = "RFC 8200 §5" if pmtu.family == 6 else "RFC 1122 §3.3.3"
    return _finding("undersized-pmtu", Severity.WARNING, summary, evidence, facts, ref, platform)


def _mss_findings(pmtu: _Measured, mss: MssObservation, platform: str | None) -> list[Finding]:
    out: list[Finding] = []
    family, hdr = mss.family, HEADERS[mss.family]
    value = mss.effective if mss.effective is not None else mss.combined
    which = "effective" if mss.effective is not None else "announced"
    mine: tuple[Evidence, ...] = ()
    if mss.probe_id is not None and value is not None:
        field = "tcp_info.snd_mss" if which == "effective" else "tcp.options.mss"
        mine = (Evidence(field=field, observed=value, probe=mss.probe_id, note=f"{which} MSS"),)
    best = _exact(pmtu)
    if value is not None and best is not None and value + hdr > best.probe.size:
        mtu = best.probe.size
        evidence = (
            *mine,
            Evidence(
                field="probe.size",
                observed=mtu,
                expected=value + hdr,
                probe=best.probe.id,
                note="largest size that got through",
            ),
        )
        summary = (
            f"The {which} MSS {value} plus {hdr} bytes of headers exceeds the path MTU {mtu} "
            f"to {pmtu.dst}"
        )
        facts: Facts = {"mss": value, "path_mtu": mtu, "family": family}
        ref = "RFC 9293 §3.7.1; RFC 879"
        out.append(
            _finding("oversized-mss", Severity.ERROR, summary, evidence, facts, ref, platform)
        )
    if value is not None and mine and value < MIN_GOOD_MSS[family]:
        summary = f"The {which} MSS {value} is below {MIN_GOOD_MSS[family]}"
        facts = {"mss": value, "path_mtu": pmtu.path_mtu, "family": family}
        ref = "RFC 9293 §3.7.1"
        out.append(_finding("undersized-mss", Severity.INFO, summary, mine, facts, ref, platform))
    transfer = mss.transfer
    if transfer is not None and mss.verdict is TransferVerdict.STALLED and mss.probe_id is not None:
        way = "reverse" if transfer.direction is Direction.DOWNLOAD else "forward"
        summary = (
            f"The TCP handshake to {pmtu.dst} works but a {transfer.direction.value} of "
            f"{transfer.expected_bytes} bytes stalls after {transfer.moved_bytes}: "
            f"full-size segments vanish on the {way} path"
        )
        evidence = (
            Evidence(
                field="transfer.moved_bytes",
                observed=transfer.moved_bytes,
                expected=transfer.expected_bytes,
                probe=mss.probe_id,
                note=f"{transfer.direction.value} stalled after the handshake",
            ),
        )
        facts = {"path_mtu": pmtu.path_mtu, "family": family, "mss": value}
        ref = "RFC 2923 §2.1"
        out.append(
            _finding("pmtud-blackhole", Severity.ERROR, summary, evidence, facts, ref, platform)
        )
    return out


def diagnose_path(obs: PathObservations, *, platform: str | None = None) -> tuple[Finding, ...]:
    """The findings of one `path` run (probe, trace or sweep).

    Args:
        obs: what the run measured toward one destination.
        platform: a `calc.snippets` platform for configuration lines in the advice.

    Returns:
        Findings in a stable order: drops, black hole, failures, sizes, MSS.

    Raises:
        UsageError: `platform` is unknown.
    """
    # Adapter (until diagnose/ has one rule module per kind): what each verb measured,
    # as the path MTU the rules read. A trace's is the destination hop's MTU; a sweep's
    # counts only when exact, with the sweep's probes as its evidence.
    if obs.search is not None:
        measured = _Measured.of(obs.search, obs.search.path_mtu)
    elif obs.trace is not None:
        t = obs.trace
        last = t.hops[-1] if t.hops and t.reached else None
        stop = SearchStop.CONVERGED if t.reached else t.stop_reason
        measured = _Measured.of(t, last.mtu if last else None, stop=stop, probes=())
    elif obs.sweep is not None and obs.sweep.exact_path_mtu is not None:
        measured = _Measured.of(obs.sweep, obs.sweep.exact_path_mtu)
    else:
        return ()
    return _diagnose(measured, obs.trace, obs.mss, platform=platform)


def _diagnose(
    pmtu: _Measured,
    trace: HopTraceResult | None,
    mss: MssObservation | None,
    *,
    platform: str | None = None,
) -> tuple[Finding, ...]:
    records = [*pmtu.probes, *(trace.probes if trace else ())]
    found: list[Finding | None] = []
    if trace is not None:
        sizes = {r.probe.id: r.probe.size for r in records}
        found += _drop_findings(trace, sizes, platform)
    found += [_blackhole(pmtu, trace, platform), _bogus(records, pmtu, platform)]
    found.append(_undersized_pmtu(pmtu, platform))
    if mss is not None:
        found += _mss_findings(pmtu, mss, platform)
    return tuple(f for f in found if f is not None)
