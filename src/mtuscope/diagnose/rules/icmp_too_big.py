"""Rule `icmp-too-big`: ICMP fragmentation-needed / ICMPv6 packet-too-big messages seen.

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of a `CompareResult`; no I/O.

Capture: one finding per (sender, MTU, connection): many messages from one router for one
flow are one fact. Severity: warning when the MTU is unusable (zero, below the
protocol minimum, or not smaller than the packet it quotes) or below 576 (IPv4)
or 1280 (IPv6) bytes, info otherwise (PMTUD is doing its job).

Two capture points: one finding per (capture point, sender, MTU), with the same
severity as for one capture.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import (
    MAX_COMPARE_FRAMES,
    frame_evidence,
    hop_word,
    icmp_mtu_field,
    ttl_field,
)
from mtuscope.diagnose.rules.phrases import (
    FactsIn,
    clamp_text,
    counted_header,
    counted_header_text,
    fact_int,
    first_mtu,
    looks_like,
    where_to_clamp,
)
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.compare import CompareResult, IcmpSeen
from mtuscope.passive.icmp import mtu_problem
from mtuscope.passive.results import CaptureAnalysis, IcmpTooBig
from mtuscope.passive.ttl import sender_hint
from mtuscope.wire.sizes import MIN_MTU, MIN_REASSEMBLY

KIND = "icmp-too-big"
MAX_FRAMES = 5


REFERENCE = "RFC 1191 §4, RFC 8201 §4"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for the too-big messages of `analysis`."""
    groups: dict[tuple[str, int, int | None], list[IcmpTooBig]] = defaultdict(list)
    for msg in analysis.icmp_too_big:
        groups[(msg.sender, msg.mtu, msg.connection)].append(msg)
    # A router that sent any unusable message cannot be said to make PMTUD work.
    unreliable = {(m.sender, m.connection) for m in analysis.icmp_too_big if m.problem}
    for (sender, mtu, conn), msgs in groups.items():
        bad = [m for m in msgs if m.problem is not None]
        # One message with this MTU that the refused packet fits disproves the MTU: the
        # whole group is unusable, shown by that message first.
        first = bad[0] if bad else msgs[0]
        if bad:
            msgs = bad + [m for m in msgs if m.problem is None]
        fam = first.family
        unusable = first.problem is not None
        # Below the minimum reassembly size a path is undersized (RFC 1122 §3.3.3, RFC 8200 §5).
        severity = Severity.WARNING if unusable or mtu < MIN_REASSEMBLY[fam] else Severity.INFO
        quoted = (
            f"{_where(first.quoted_src, first.quoted_sport)} -> "
            f"{_where(first.quoted_dst, first.quoted_dport)}"
            if first.quoted_src and first.quoted_dst
            else "an unquoted packet"
        )
        target = f"connection {conn}" if conn is not None else "no captured connection"
        problem = f" ({first.problem} MTU: unusable)" if unusable else ""
        summary = (
            f"{len(msgs)} ICMP too-big message(s) from {sender} report MTU {mtu}{problem} "
            f"for {quoted} ({target}); initial TTL about {first.initial_ttl_guess}: "
            f"{first.sender_hint}"
        )
        # The MTU is what the router said; the quoted packet is what it refused: both are
        # observed, neither is an "expected" value of the other.
        evidence = [
            frame_evidence(
                analysis.capture,
                m.frame,
                icmp_mtu_field(fam),
                m.mtu,
                note=f"too-big for a quoted packet of {m.quoted_len} bytes"
                if m.quoted_len
                else "too-big message",
            )
            for m in msgs[:MAX_FRAMES]
        ]
        evidence.append(
            frame_evidence(
                analysis.capture,
                first.frame,
                ttl_field(fam),
                first.ttl,
                note=f"likely started at {first.initial_ttl_guess}: {first.sender_hint}",
            )
        )
        facts: Facts = {
            "icmp_mtu": mtu,
            "path_mtu": mtu if not unusable else None,
            "address": sender,
            "family": fam,
            "ttl": first.ttl,
            "initial_ttl": first.initial_ttl_guess,
            "messages": len(msgs),
            "quoted_len": first.quoted_len,
            "side": first.direction,
            "problem": first.problem,
            "link_header": counted_header(mtu, first.quoted_len) if unusable else None,
            "unusable_too": (
                sum(1 for m in analysis.icmp_too_big if m.problem and m.sender == sender)
                if not unusable and (sender, conn) in unreliable
                else None
            ),
        }
        yield RULE.finding(
            severity=severity,
            summary=summary,
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=conn,
        )


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for the too-big messages seen at either capture point."""
    groups: dict[tuple[str, str, int], list[IcmpSeen]] = defaultdict(list)
    for i in result.icmp:
        groups[(i.point, i.sender, i.mtu)].append(i)

    def problem(i: IcmpSeen) -> str | None:
        return mtu_problem(6 if ":" in i.sender else 4, i.mtu, i.quoted_len)

    unreliable = {(i.point, i.sender) for i in result.icmp if problem(i)}
    for (point, sender, mtu), msgs in groups.items():
        bad = [i for i in msgs if problem(i)]
        first = bad[0] if bad else msgs[0]
        why = problem(first)
        n = len(msgs)
        fam = 6 if ":" in sender else 4
        # The same facts get the same severity as in `analyze`: a usable MTU is PMTUD at work.
        severity = Severity.WARNING if why or mtu < MIN_REASSEMBLY[fam] else Severity.INFO
        facts: Facts = {
            "icmp_mtu": mtu,
            "path_mtu": mtu if mtu >= MIN_MTU[fam] and not why else None,
            "problem": why,
            "quoted_len": first.quoted_len,
            "link_header": counted_header(mtu, first.quoted_len) if why else None,
            "unusable_too": (
                sum(1 for i in result.icmp if problem(i) and i.sender == sender)
                if not why and (point, sender) in unreliable
                else None
            ),
            "family": fam,
            "address": sender,
            "ttl": first.ttl,
            "initial_ttl_guess": first.initial_ttl_guess,
            "seen_at": point,
            "count": n,
            "connection": first.connection,
        }
        evidence: tuple[Evidence, ...] = tuple(
            Evidence(
                field=icmp_mtu_field(fam),
                observed=mtu,
                capture=i.capture,
                frame=i.frame,
                note=f"from {i.sender}, {hop_word(fam)} {i.ttl}"
                + (f", about connection {point.upper()}#{i.connection}" if i.connection else ""),
            )
            for i in (bad + [i for i in msgs if not problem(i)])[:MAX_COMPARE_FRAMES]
        )
        yield RULE.finding(
            severity=severity,
            summary=(
                f"{point.upper()} ({first.capture}) saw {n} ICMP too-big message"
                f"{'s' if n != 1 else ''} from {sender} with MTU {mtu}"
                f"{f' ({why} MTU: unusable)' if why else ''} ({hop_word(fam)} "
                f"{first.ttl}, "
                f"likely started at {first.initial_ttl_guess}: "
                f"{sender_hint(first.initial_ttl_guess)})"
            ),
            evidence=evidence,
            facts=facts,
            platform=platform,
            reference="RFC 1191; RFC 8201",
            connection=first.connection,
        )


def _where(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


def advise(f: FactsIn) -> Advice:
    """PMTUD works: clamp at the tunnel head end to spare each flow a retransmission."""
    mtu = None if f.get("problem") else first_mtu(f, "icmp_mtu", "path_mtu")
    who = f" at {f['address']}" if f.get("address") else ""
    value = f" ({f['icmp_mtu']})" if f.get("icmp_mtu") is not None else ""
    others = fact_int(f, "unusable_too")
    if mtu is not None and others:
        # The same router also sent messages its own MTU disproves: no "PMTUD works here".
        return (
            f"A router{who} reports a next-hop MTU of {mtu}, but {others} of its too-big "
            "messages for the same flow carry an unusable MTU, so PMTUD cannot be relied on "
            f"here: fix that router's MTU reporting, and meanwhile set {clamp_text(mtu)} in "
            "front of the narrow link; keep these ICMP messages allowed (RFC 4890 §4.3.1).",
            mtu,
        )
    if mtu is not None:
        guess = looks_like(mtu, fact_int(f, "from_mtu"))
        return (
            f"A router{who} reports a next-hop MTU of {mtu}{guess}: "
            "PMTUD works here, but each new flow pays a retransmission. Set "
            f"{clamp_text(mtu)} {where_to_clamp(guess)} to avoid it; keep these ICMP "
            "messages allowed (RFC 4890 §4.3.1).",
            mtu,
        )
    header, claimed, quoted = (
        fact_int(f, "link_header"),
        fact_int(f, "icmp_mtu"),
        fact_int(f, "quoted_len"),
    )
    if header is not None and claimed is not None and quoted is not None:
        return (
            f"A router{who} sent too-big messages with an unusable next-hop MTU{value}, "
            "not smaller than the packet they refuse: "
            f"{counted_header_text(claimed, quoted, header)}. "
            "Senders cannot act on such a message (RFC 1191 §5); set the MTU of the narrow "
            "link so the router reports the IP MTU it really forwards.",
            None,
        )
    return (
        f"A router{who} sent too-big messages with an unusable next-hop MTU{value}: "
        "an old router (RFC 1191 §5: senders fall back to a plateau "
        "search) or a middlebox rewriting the messages. Find it and set the MTU of its narrow "
        "link explicitly.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
