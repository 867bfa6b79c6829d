"""Rule `oversized-mss`: the MSS in force plus headers exceeds the path MTU.

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of `PathObservations`; no I/O.

Capture: fires only with evidence of the path MTU: a usable ICMP too-big message quoting
the sender's packets on this connection. The MSS in force is what the peer
announced (or the RFC 9293 default); plus 40 (IPv4) or 60 (IPv6) bytes of
headers it must fit the path MTU, else every full segment depends on PMTUD.
A warning: the too-big message arrived, so PMTUD can repair it; pmtud-failure
is the error for when it does not.

Path: the MSS measured (effective, else announced) plus headers exceeds the exact
path MTU the probes found: a warning when the probes drew too-big messages (PMTUD
repairs it, as in a capture), an error when the path is silent.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.active.probe import ProbeOutcome, SearchStop
from mtuscope.calc.advice import TCP_IP_HEADERS, clamp_mss
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import (
    at_most,
    directions,
    frame_evidence,
    icmp_mtu_field,
    mss_option_evidence,
    path_mss,
    probe_evidence,
)
from mtuscope.diagnose.rules.phrases import (
    ICMP,
    FactsIn,
    fact_family,
    fact_int,
    fact_mtu,
    upper_first,
)
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import CaptureAnalysis
from mtuscope.wire.sizes import TCP_DEFAULT_MSS

KIND = "oversized-mss"
REFERENCE = "RFC 9293 §3.7.1, RFC 1191"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for MSS values too big for an ICMP-reported path MTU."""
    cap = analysis.capture
    for conn, role, sender, receiver in directions(analysis):
        hdr = TCP_IP_HEADERS[conn.family]
        pmtu = sender.path_mtu
        if pmtu is None or receiver.handshake_frame is None:
            continue
        limit = receiver.mss if receiver.mss is not None else TCP_DEFAULT_MSS[conn.family]
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
            *mss_option_evidence(cap, receiver, expected=at_most(pmtu - hdr)),
            frame_evidence(
                cap,
                icmp.frame,
                icmp_mtu_field(icmp.family),
                pmtu,
                note=f"below the {limit + hdr}-byte packets the MSS allows",
            ),
        ]
        if sender.max_segment_frame is not None and sender.max_segment + hdr > pmtu:
            evidence.append(
                frame_evidence(
                    cap,
                    sender.max_segment_frame,
                    "tcp.len",
                    sender.max_segment,
                    at_most(pmtu - hdr),
                )
            )
        facts: Facts = {
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
        yield RULE.finding(
            summary=(
                f"Connection {conn.id}: MSS {limit} of {receiver.address} plus {hdr} bytes "
                f"of headers exceeds the path MTU {pmtu} reported by {icmp.sender}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn.id,
        )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for an MSS measured toward the destination that the path MTU cannot carry."""
    measured = path_mss(obs)
    best = obs.exact
    if measured is None or best is None:
        return
    value, which, mine = measured
    if value is None:
        return
    hdr = TCP_IP_HEADERS[obs.family]
    mtu = best.probe.size
    if value + hdr <= mtu:
        return
    told = next((r for r in obs.mtu_probes if r.outcome is ProbeOutcome.TOO_BIG), None)
    evidence = (
        *mine,
        probe_evidence(best, note=f"largest size that got through; the MSS needs {value + hdr}"),
        *(
            (probe_evidence(told, note="a too-big message came back for it"),)
            if told is not None
            else ()
        ),
    )
    # As for a capture: when too-big messages come back, PMTUD repairs the oversized
    # segments (at one lost round trip per flow): a warning. Only a silent path (the search
    # proved a black hole) is an error; a search that converged without a too-big message
    # (the sender's route already held the learned path MTU, or a router rate-limited its
    # ICMP) proves no silent drop.
    silent = any(
        part is not None and part.stop_reason is SearchStop.BLACKHOLE
        for part in (obs.search, obs.sweep)
    )
    repaired = "; too-big messages come back, so PMTUD repairs it" if told is not None else ""
    yield RULE.finding(
        severity=Severity.ERROR if silent else Severity.WARNING,
        summary=(
            f"The {which} MSS {value} plus {hdr} bytes of headers exceeds the path MTU {mtu} "
            f"to {obs.dst}{repaired}"
        ),
        evidence=evidence,
        facts={"mss": value, "path_mtu": mtu, "family": obs.family},
        platform=platform,
        reference="RFC 9293 §3.7.1; RFC 879",
    )


def advise(f: FactsIn) -> Advice:
    """Clamp the MSS to the path MTU less the headers, or set the MTU so hosts announce it."""
    fam, mtu, mss = fact_family(f), fact_mtu(f), fact_int(f, "mss")
    hdr = TCP_IP_HEADERS[fam]
    if mtu is not None:
        who = f"the {f['side']}'s" if f.get("side") else "the"
        said = f"{who} MSS {mss} plus {hdr} bytes of headers" if mss else f"{who} MSS"
        return (
            f"{upper_first(said)} does not fit the path MTU {mtu}: clamp the MSS to "
            f"{clamp_mss(mtu, fam)} (IPv{fam}) on the router where the path narrows, on both "
            f"directions' SYNs, or set the tunnel/interface MTU to {mtu} so hosts announce it; "
            f"and {ICMP}, so PMTUD can correct the rest.",
            mtu,
        )
    return (
        "The announced MSS does not fit the path: measure the path MTU (mtuscope path), then "
        f"clamp the MSS to path MTU - {hdr} on the router where the path narrows; "
        f"and {ICMP}.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
