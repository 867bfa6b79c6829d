"""Rule `pmtud-failure`: too-big messages arrive but PMTU discovery does not complete.

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of `PathObservations`; no I/O.

Capture: two signatures, per connection direction:
- the ICMP MTU is unusable (zero, below 68/1280, or not smaller than the packet it
  quotes), so the sender cannot act on it (RFC 1191 §5, RFC 8201 §4);
- at least two usable too-big messages quote the sender's packets, and it still
  sends packets bigger than that MTU after the last of them: the signals do not
  reach the sending stack (NAT, load balancer, host firewall) or it ignores them.
Severity: error for the second, warning for the first.

Path: the first link carries less than this host's interface MTU (no router stands
in between to send a too-big message: an error), or too-big messages answered the
probes with an unusable MTU (a warning).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mtuscope.active.hop_trace import MtuDrop
from mtuscope.active.probe import ProbeOutcome
from mtuscope.calc.advice import TCP_IP_HEADERS, clamp_mss
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import (
    directions,
    drop_evidence,
    frame_evidence,
    icmp_mtu_field,
)
from mtuscope.diagnose.rules.phrases import (
    ICMP,
    FactsIn,
    counted_header,
    counted_header_text,
    fact_family,
    fact_int,
    fact_mtu,
)
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import CaptureAnalysis, Connection, Endpoint, IcmpTooBig
from mtuscope.wire.sizes import MIN_MTU

KIND = "pmtud-failure"
REFERENCE = "RFC 1191 §5, RFC 8201 §4"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for connections whose too-big signals do not take effect."""
    by_conn: dict[int, list[IcmpTooBig]] = {}
    for m in analysis.icmp_too_big:
        if m.connection is not None:
            by_conn.setdefault(m.connection, []).append(m)
    for conn, role, sender, _ in directions(analysis):
        mine = [m for m in by_conn.get(conn.id, []) if m.direction == role]
        if mine:
            signals = _Signals(cap=analysis.capture, conn=conn, role=role, sender=sender, msgs=mine)
            yield from _ignored(signals, platform)
            yield from _unusable(signals, platform)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Signals:
    """The too-big messages that quote one direction of one connection."""

    cap: str
    conn: Connection
    role: str
    """The sender's role."""
    sender: Endpoint
    msgs: list[IcmpTooBig]


def _ignored(signals: _Signals, platform: str | None) -> Iterator[Finding]:
    """The error: usable messages arrive, yet the sender still sends bigger packets."""
    cap, conn, role, sender = signals.cap, signals.conn, signals.role, signals.sender
    usable = [m for m in signals.msgs if m.problem is None]
    if len(usable) < 2:
        return
    mtu = min(m.mtu for m in usable)
    last = max(m.frame for m in usable)
    hdr = TCP_IP_HEADERS[conn.family]
    late = [s for s in sender.large_sizes if s.payload + hdr > mtu and s.last_frame > last]
    if not late:
        return
    big = max(late, key=lambda s: s.payload)
    fam = usable[0].family
    evidence = [frame_evidence(cap, m.frame, icmp_mtu_field(fam), m.mtu) for m in usable[:4]]
    evidence.append(
        frame_evidence(
            cap,
            big.last_frame,
            "tcp.len",
            big.payload,
            mtu - hdr,
            note="still sent after the last too-big message",
        )
    )
    facts: Facts = {
        "path_mtu": mtu,
        "icmp_mtu": mtu,
        "messages": len(usable),
        "segment": big.payload + hdr,
        "family": conn.family,
        "side": role,
        "address": sender.address,
        "signal": "ignored",
    }
    yield RULE.finding(
        severity=Severity.ERROR,
        summary=(
            f"Connection {conn.id}: {len(usable)} too-big messages (MTU {mtu}) quote the "
            f"{role} {sender.address}, yet it still sends {big.payload + hdr}-byte packets "
            f"after them (frame {big.last_frame})"
        ),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
        reference="RFC 1191 §6.3, RFC 8201 §5.2",
        connection=conn.id,
    )


def _unusable(signals: _Signals, platform: str | None) -> Iterator[Finding]:
    """The warning: the messages carry an MTU the sender cannot act on."""
    conn, role = signals.conn, signals.role
    bad = [m for m in signals.msgs if m.problem is not None]
    if not bad:
        return
    m = bad[0]
    floor = MIN_MTU[m.family]
    expected = f"{floor}..{m.quoted_len - 1}" if m.quoted_len else f">= {floor}"
    facts: Facts = {
        "icmp_mtu": m.mtu,
        "problem": m.problem,
        "messages": len(bad),
        "family": conn.family,
        "side": role,
        "address": m.sender,
        "path_mtu": None,
        "signal": "unusable",
        "quoted_len": m.quoted_len,
        "link_header": counted_header(m.mtu, m.quoted_len) if m.problem == "not-smaller" else None,
    }
    yield RULE.finding(
        summary=(
            f"Connection {conn.id}: {len(bad)} too-big message(s) from {m.sender} carry an "
            f"unusable MTU {m.mtu} ({m.problem}), so the {role} cannot learn the path MTU"
        ),
        evidence=tuple(
            frame_evidence(signals.cap, b.frame, icmp_mtu_field(b.family), b.mtu, expected)
            for b in bad[:5]
        ),
        facts=facts,
        platform=platform,
        connection=conn.id,
    )


def check_path_drop(
    obs: PathObservations, drop: MtuDrop, *, platform: str | None = None
) -> Iterator[Finding]:
    """The error for a drop on the first link: this host's MTU exceeds what the link carries."""
    if drop.after_hop != 0:
        return
    # Nobody stands between the host and its first link to send a too-big message.
    yield RULE.finding(
        severity=Severity.ERROR,
        summary=(
            f"This host's interface MTU {drop.from_mtu} exceeds what its first link "
            f"carries ({drop.to_mtu}): no router can send a too-big message for it"
        ),
        evidence=drop_evidence(obs, drop),
        facts={
            "path_mtu": drop.to_mtu,
            "family": obs.family,
            "from_mtu": drop.from_mtu,
            "signal": "first-link",
        },
        platform=platform,
        reference="RFC 1191 §3; RFC 4821 §1",
    )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The warning for too-big messages that answered the probes with an unusable MTU."""
    bogus = [r for r in obs.records if r.outcome is ProbeOutcome.TOO_BIG_BOGUS and r.reply]
    if not bogus:
        return
    senders = sorted({str(r.reply.from_addr or "this host") for r in bogus if r.reply})
    values = sorted({r.reply.mtu for r in bogus if r.reply and r.reply.mtu is not None})
    evidence: tuple[Evidence, ...] = tuple(
        Evidence(
            field=icmp_mtu_field(obs.family),
            observed=r.reply.mtu if r.reply else None,
            expected=f"{MIN_MTU[obs.family]}..{r.probe.size - 1}",
            probe=r.probe.id,
            note=f"refused a {r.probe.size}-byte probe",
        )
        for r in bogus[:3]
    )
    yield RULE.finding(
        summary=(
            f"{len(bogus)} too-big messages from {', '.join(senders)} carried a useless MTU "
            f"({', '.join(map(str, values)) or 'none'}): PMTU discovery cannot use them"
        ),
        evidence=evidence,
        facts={
            "path_mtu": obs.path_mtu,
            "family": obs.family,
            "icmp_mtu": values[0] if values else None,
            "address": ", ".join(senders),
            "signal": "unusable",
        },
        platform=platform,
        reference="RFC 1191 §4; RFC 8201 §4",
    )


def advise(f: FactsIn) -> Advice:
    """Advice for the signature seen: unusable MTUs, signals that do not take effect, or
    a first link no router can speak for; meanwhile clamp."""
    mtu, fam = fact_mtu(f), fact_family(f)
    tail = (
        f" Meanwhile clamp the MSS to {clamp_mss(mtu, fam)} (IPv{fam})."
        if mtu is not None
        else (
            f" Meanwhile clamp the MSS to the path MTU less {TCP_IP_HEADERS[4]} (IPv4) or "
            f"{TCP_IP_HEADERS[6]} (IPv6)."
        )
    )
    signal = f.get("signal")
    who = f" from {f['address']}" if f.get("address") else ""
    header, claimed, quoted = (
        fact_int(f, "link_header"),
        fact_int(f, "icmp_mtu"),
        fact_int(f, "quoted_len"),
    )
    if signal == "unusable" and header is not None and claimed is not None and quoted is not None:
        return (
            f"Too-big messages{who} arrive, but the MTU they carry ({claimed}) is not "
            f"smaller than the packet they refuse, so hosts cannot learn the path MTU from "
            f"them: {counted_header_text(claimed, quoted, header)}." + tail,
            mtu,
        )
    if signal == "unusable":
        return (
            f"Too-big messages{who} arrive, but the MTU they carry "
            f"({f.get('icmp_mtu')}) is unusable, so hosts cannot learn the path MTU from "
            "them: the router (or a middlebox rewriting its messages) predates RFC 1191 or "
            "is misconfigured; fix or upgrade it, or set the MTU of the narrow link "
            "explicitly so it reports its real next-hop MTU (RFC 1191 §4, RFC 8201 §4)." + tail,
            mtu,
        )
    if signal == "first-link":
        return (
            f"This host's interface MTU is larger than its first link carries, and no router "
            f"stands in between to say so: set the interface MTU to {mtu or 'the link MTU'} "
            "(or fix the link's other end to match).",
            mtu,
        )
    if signal == "ignored":
        return (
            f"Too-big messages{who} reach the capture point but the sender keeps sending "
            "larger packets: they do not reach its TCP stack or it ignores them. Check for "
            "host firewalls, NAT or load balancers that do not forward ICMP errors to the "
            "host, and that the sender does not disable PMTUD." + tail,
            mtu,
        )
    return (
        f"Path MTU discovery cannot finish because too-big signals are missing: {ICMP}; "
        "check for routers rate-limiting or not sending them, and for NAT or load balancers "
        "that do not forward them to the host." + tail,
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
