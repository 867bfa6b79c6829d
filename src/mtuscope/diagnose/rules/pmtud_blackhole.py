"""Rule `pmtud-blackhole`: big segments vanish without an ICMP error, small ones pass.

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of `PathObservations`; no I/O.

Capture: fires on each stall the passive analysis found (`Endpoint.black_holes`: one
segment retransmitted unchanged at least twice and never acknowledged, while a
smaller segment of the same direction was) on a connection for which no ICMP
too-big message was captured. The inferred path MTU lies between the largest
packet known to pass and one less than the stalled packet. Severity `error`: the
sender's retransmissions prove it. When a packet at least as big was sent earlier and
acknowledged (`BlackHole.passed_frame`) the stall is loss, not an MTU problem: an `info`
finding says so, the receiving side's guard (a full segment arrived) on the sending side.

From the receiving side (`ReceiverBlackHole`: the sender's sequence numbers jumped a
full segment or more over bytes that never arrived, the receiver's ACK stayed at the
gap, no ICMP too-big, and only packets smaller than a full segment arrived) the same
kind fires as a `warning`: a likely black hole, bounded below by the largest packet
that did arrive.

Path: the search stopped at a black hole (larger probes got neither a reply nor a
too-big message), or a TCP transfer stalled after a working handshake: errors.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.active.hop_trace import MtuDrop
from mtuscope.active.mss import Direction, TransferVerdict
from mtuscope.active.probe import ProbeOutcome, ProbeRecord, SearchStop
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import directions, frame_evidence, path_mss, probe_evidence
from mtuscope.diagnose.rules.phrases import (
    ICMP,
    VLAN_ALLOWANCE,
    FactsIn,
    at_hop,
    clamp_text,
    drop_between,
    fact_int,
    fact_mtu,
    l2_mismatch,
    looks_like,
    silent_drop_text,
)
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import BlackHole, CaptureAnalysis, Connection, ReceiverBlackHole
from mtuscope.wire.sizes import IPV6_MIN_MTU, MIN_REASSEMBLY

KIND = "pmtud-blackhole"
REFERENCE = "RFC 2923 §2.1, RFC 4821"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for black-holed segments, one per stalled direction."""
    cap = analysis.capture
    for conn, role, sender, receiver in directions(analysis):
        gaps = [h for h in sender.black_holes if isinstance(h, ReceiverBlackHole)]
        stalls = [
            h
            for h in sender.black_holes
            if isinstance(h, BlackHole) and not h.too_big_seen and not h.within_minimum
        ]
        holes = [h for h in stalls if h.passed_frame is None]
        if gaps and not stalls:
            yield _from_receiver(
                cap, conn, role, sender.address, receiver.address, gaps[0], platform
            )
        if stalls and not holes:
            yield _outage(cap, conn, role, sender.address, receiver.address, stalls[0], platform)
        if not holes:
            continue
        h = min(holes, key=lambda b: b.packet_size)
        hdr = h.packet_size - h.size
        evidence = [
            frame_evidence(
                cap,
                f,
                "tcp.len",
                h.size,
                note=f"retransmission {i + 1} of {h.retransmissions}, never acknowledged"
                + (f" (segments of {h.acked_size} bytes were)" if h.acked_size else ""),
            )
            for i, f in enumerate(h.frames[:5])
        ]
        if h.recovery_frame is not None:
            evidence.append(
                frame_evidence(
                    cap,
                    h.recovery_frame,
                    "tcp.len",
                    h.recovery_size,
                    note="smaller retransmission of the same range (MTU probing)",
                )
            )
        if h.end_frame is not None:
            evidence.append(_end_evidence(cap, h))
        # As on the receiving side: a lower bound below the minimum reassembly size (the
        # handshake's 52 bytes) says nothing about the path MTU.
        floor = MIN_REASSEMBLY.get(conn.family, IPV6_MIN_MTU)
        facts: Facts = {
            "path_mtu": h.mtu_low if h.mtu_low >= floor else None,
            "mtu_low": h.mtu_low,
            "mtu_high": h.mtu_high,
            "segment": h.packet_size,
            "payload": h.size,
            "acked_payload": h.acked_size,
            "retransmissions": h.retransmissions,
            "family": conn.family,
            "side": role,
            "address": sender.address,
            "recovered": 1 if h.recovery_frame is not None else 0,
            "end_frame": h.end_frame,
        }
        passing = (
            f"{h.acked_size + hdr}-byte packets pass: path MTU between {h.mtu_low} and {h.mtu_high}"
            if h.acked_size
            else f"the handshake passes: path MTU below {h.packet_size}"
        )
        yield RULE.finding(
            summary=(
                f"Connection {conn.id}: {h.packet_size}-byte packets from the {role} "
                f"{sender.address} to {receiver.address} vanish ({h.retransmissions} "
                f"retransmissions, no ICMP too-big) while {passing}{ended(h)}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn.id,
        )


def ended(h: BlackHole) -> str:
    """How the connection ended after the stall, for a summary ("" when it did not)."""
    if h.end_frame is None:
        return ""
    how = "is reset" if h.end == "rst" else "is closed"
    return f"; the connection {how} (frame {h.end_frame})"


def _end_evidence(cap: str, h: BlackHole) -> Evidence:
    """The RST or FIN that ended the connection after the stall."""
    assert h.end_frame is not None
    field = "tcp.flags.reset" if h.end == "rst" else "tcp.flags.fin"
    return frame_evidence(cap, h.end_frame, field, 1, note="the connection ends")


def _outage(
    cap: str,
    conn: Connection,
    role: str,
    sender: str,
    receiver: str,
    h: BlackHole,
    platform: str | None,
) -> Finding:
    """The `info` finding for a stall after packets as big got through: loss, not the MTU."""
    assert h.passed_frame is not None and h.passed_size is not None
    evidence = [
        frame_evidence(
            cap,
            h.passed_frame,
            "ip.len",
            h.passed_size,
            note="as big, sent earlier and acknowledged: such packets pass",
        ),
        *(
            frame_evidence(
                cap,
                f,
                "tcp.len",
                h.size,
                note=f"retransmission {i + 1} of {h.retransmissions}, never acknowledged",
            )
            for i, f in enumerate(h.frames[:5])
        ),
    ]
    if h.end_frame is not None:
        evidence.append(_end_evidence(cap, h))
    facts: Facts = {
        "path_mtu": None,
        "mtu_low": h.passed_size,
        "segment": h.packet_size,
        "payload": h.size,
        "retransmissions": h.retransmissions,
        "passed_frame": h.passed_frame,
        "end_frame": h.end_frame,
        "family": conn.family,
        "side": role,
        "address": sender,
        "signal": "outage",
    }
    return RULE.finding(
        severity=Severity.INFO,
        summary=(
            f"Connection {conn.id}: loss after full-size segments got through: not an MTU "
            f"problem ({h.passed_size}-byte packets from the {role} {sender} to {receiver} "
            f"passed (frame {h.passed_frame}), then a {h.packet_size}-byte one was "
            f"retransmitted {h.retransmissions} times unacknowledged{ended(h)})"
        ),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
        reference="RFC 2923 §2.1",
        connection=conn.id,
    )


def _from_receiver(
    cap: str,
    conn: Connection,
    role: str,
    sender: str,
    receiver: str,
    g: ReceiverBlackHole,
    platform: str | None,
) -> Finding:
    """The `warning` finding for a black hole seen from the receiving side."""
    evidence = []
    if g.last_in_order_frame is not None:
        evidence.append(
            frame_evidence(
                cap,
                g.last_in_order_frame,
                "tcp.nxtseq",
                g.gap_start_raw,
                note="last packet before the gap",
            )
        )
    evidence.append(
        frame_evidence(
            cap,
            g.jump_frame,
            "tcp.seq",
            g.seq_raw,
            g.gap_start_raw,
            note=f"sequence jumps {g.missing} bytes: they never arrived",
        )
    )
    if g.receiver_frame is not None:
        evidence.append(
            frame_evidence(
                cap,
                g.receiver_frame,
                "tcp.ack",
                g.receiver_ack_raw,
                note=f"the receiver's ACK never passes the gap at {g.gap_start_raw}",
            )
        )
    if g.end_frame is not None and g.end_frame != g.receiver_frame:
        field = "tcp.flags.reset" if g.end == "rst" else "tcp.flags.fin"
        evidence.append(frame_evidence(cap, g.end_frame, field, 1, note="the connection ends"))
    # Every path carries the minimum reassembly size: a bound below it says nothing.
    bound = g.mtu_low if g.mtu_low >= MIN_REASSEMBLY.get(conn.family, IPV6_MIN_MTU) else None
    facts: Facts = {
        "path_mtu": bound,
        "mtu_low": g.mtu_low,
        "mtu_high": g.mtu_high,
        "segment": g.packet_size,
        "payload": g.segment,
        "missing_bytes": g.missing,
        "largest_arrived": g.largest_arrived,
        "family": conn.family,
        "side": role,
        "address": sender,
        "seen_from": "receiver",
    }
    return RULE.finding(
        severity=Severity.WARNING,
        summary=(
            f"Connection {conn.id}: likely black hole: {g.missing} bytes sent by the {role} "
            f"{sender} never arrived at {receiver} while small packets did (largest arrived "
            f"{g.largest_arrived} bytes; {g.packet_size}-byte packets probably vanish, "
            "no ICMP too-big)"
        ),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
        connection=conn.id,
    )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for a search (or a sweep's table) that ended at a black hole.

    A sweep whose step leaves a gap above the largest size that passed still shows the
    black hole: the finding then gives the bounds, not one number.
    """
    if obs.stop_reason is not SearchStop.BLACKHOLE:
        yield from _check_trace(obs, platform=platform)
        return
    best = obs.exact
    bounds = obs.pmtu_bounds
    if best is None and obs.sweep is not None and obs.search is None:
        reached = [r for r in obs.mtu_probes if r.outcome is ProbeOutcome.REACHED]
        best = max(reached, key=lambda r: (r.probe.size, -r.probe.id)) if reached else None
    if best is None:
        return
    mtu = best.probe.size
    hi = bounds[1] if bounds is not None and obs.exact is None else mtu
    silent = sorted(
        (r for r in obs.mtu_probes if r.outcome is ProbeOutcome.LOST and r.probe.size > mtu),
        key=lambda r: (r.probe.size, r.probe.id),
    )[:3]
    drops = [d for d in (obs.trace.drops if obs.trace else ()) if d.silent]
    # The silent drop that sets the path MTU, else the last silent one.
    drop = next((d for d in drops if d.to_mtu == mtu), drops[-1] if drops else None)
    yield _finding(obs, best=best, hi=hi, silent=silent, drop=drop, platform=platform)


def _check_trace(obs: PathObservations, *, platform: str | None) -> Iterator[Finding]:
    """A hop trace alone (`mtuscope trace`) that found the drop setting the path MTU
    silent: larger probes crossed the hops before it and vanished after it, with no
    too-big message. The same finding as a search's black hole, from the trace's probes."""
    trace = obs.trace
    if trace is None or obs.search is not None or obs.sweep is not None or not trace.drops:
        return
    drop = trace.drops[-1]
    if not drop.silent:
        return
    mtu = drop.to_mtu
    passed = (ProbeOutcome.REACHED, ProbeOutcome.TIME_EXCEEDED)
    fits = [r for r in trace.probes if r.outcome in passed and r.probe.size <= mtu]
    if not fits:
        return
    best = max(fits, key=lambda r: (r.probe.size, r.probe.ttl, -r.probe.id))
    silent = sorted(
        (
            r
            for r in trace.probes
            if r.outcome is ProbeOutcome.LOST
            and r.probe.size > mtu
            and r.probe.ttl > drop.after_hop
        ),
        key=lambda r: (r.probe.size, r.probe.id),
    )[:3]
    if not silent:
        return
    yield _finding(obs, best=best, hi=mtu, silent=silent, drop=drop, platform=platform)


def _finding(
    obs: PathObservations,
    *,
    best: ProbeRecord,
    hi: int,
    silent: list[ProbeRecord],
    drop: MtuDrop | None,
    platform: str | None,
) -> Finding:
    """The black-hole finding of a path run: `best` the largest probe that got through,
    `hi` the largest size the path may still carry (`best`'s size when exact), `silent`
    the vanished probes above it, `drop` the silent drop of the trace, when known."""
    mtu = best.probe.size
    evidence = (
        probe_evidence(best, note="got through"),
        *(probe_evidence(r, note="no reply and no too-big message") for r in silent),
    )
    facts: Facts = {
        "path_mtu": mtu,
        "family": obs.family,
        "hop": drop.at_hop if drop else None,
        "from_mtu": drop.from_mtu if drop else None,
        "address": str(drop.address) if drop and drop.address else None,
        "between": drop_between(drop) if drop else None,
        "l2_mtu": l2_mismatch(mtu, drop.from_mtu) if drop else None,
    }
    if hi > mtu:
        facts["mtu_low"], facts["mtu_high"] = mtu, hi
    where = f" {drop_between(drop)}" if drop else ""
    summary = (
        f"Packets to {obs.dst} above {mtu} bytes vanish without a too-big message{where}"
        if hi == mtu
        else f"Packets to {obs.dst} of {hi + 1} bytes and more vanish without a too-big "
        f"message{where} (path MTU between {mtu} and {hi})"
    )
    return RULE.finding(
        summary=summary,
        evidence=evidence,
        facts=facts,
        platform=platform,
        reference="RFC 2923 §2.1; RFC 4821",
    )


def check_path_stall(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for a TCP transfer that stalls after a working handshake."""
    mss = obs.mss
    measured = path_mss(obs)
    if mss is None or measured is None:
        return
    transfer = mss.transfer
    if transfer is None or mss.verdict is not TransferVerdict.STALLED or mss.probe_id is None:
        return
    way = "reverse" if transfer.direction is Direction.DOWNLOAD else "forward"
    evidence = (
        Evidence(
            field="transfer.moved_bytes",
            observed=transfer.moved_bytes,
            expected=transfer.expected_bytes,
            probe=mss.probe_id,
            note=f"{transfer.direction.value} stalled after the handshake",
        ),
    )
    yield RULE.finding(
        summary=(
            f"The TCP handshake to {obs.dst} works but a {transfer.direction.value} of "
            f"{transfer.expected_bytes} bytes stalls after {transfer.moved_bytes}: "
            f"full-size segments vanish on the {way} path"
        ),
        evidence=evidence,
        facts={"path_mtu": obs.path_mtu, "family": obs.family, "mss": measured[0]},
        platform=platform,
        reference="RFC 2923 §2.1",
    )


def advise(f: FactsIn) -> Advice:
    """Clamp in front of the narrow link, let ICMP through, or let hosts probe (RFC 4821)."""
    if f.get("signal") == "outage":
        return (
            f"Packets of {f.get('mtu_low')} bytes passed on this connection before the stall "
            "and were acknowledged, so the path MTU is not the cause: look for loss (a link "
            "or route outage, a congested or flapping link, a firewall or load balancer that "
            "dropped the connection's state) around the time of the retransmissions. Do not "
            "lower the MTU or clamp the MSS for this.",
            None,
        )
    mtu = fact_mtu(f)
    where = at_hop(f)
    if mtu is not None and fact_int(f, "l2_mtu") is not None:
        place = str(f.get("between") or "at the drop")
        return (
            f"Packets above {mtu} bytes vanish{where} without an ICMP error: "
            f"{silent_drop_text(mtu, fact_int(f, 'from_mtu'), place)}. Until then, set "
            f"{clamp_text(mtu - VLAN_ALLOWANCE)} on the router in front of that link.",
            mtu - VLAN_ALLOWANCE,
        )
    if mtu is not None:
        fix = (
            f"Packets above {mtu} bytes vanish{where} without an ICMP error"
            f"{looks_like(mtu, fact_int(f, 'from_mtu'))}: set {clamp_text(mtu)} on the router "
            f"in front of the narrow link (both directions), and {ICMP}."
        )
    else:
        fix = f"Large packets vanish{where} without an ICMP error: {ICMP}, and clamp the MSS."
    return (
        fix + " Hosts can cope on their own with packetization-layer PMTUD "
        "(RFC 4821; Linux net.ipv4.tcp_mtu_probing=1).",
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.ERROR, reference=REFERENCE, advise=advise)
