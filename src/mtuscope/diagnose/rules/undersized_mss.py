"""Rule `undersized-mss`: the effective MSS is below 1380 (IPv4) or 1220 (IPv6).

Layer: diagnose/. Pure functions of a `CaptureAnalysis`, of `PathObservations` and of a
`TwoEndedObservation`; no I/O.

Every source reads the MSS the same way (`mss_owner`): as an MSS option value (a
kernel's send MSS plus the 12 bytes of the timestamp option), and says whose it is:
the path's (MSS = path MTU - headers for a path MTU the same run or capture proves:
nothing to raise on the hosts), a clamp's (proven by a second vantage point or a
router's quote, or likely by a configured convention such as 1360) or the host's own
(the server announces 512 and the responder saw it arrive unchanged). The advice
follows the owner.

Capture: the effective MSS of a direction is the peer's MSS (or the RFC 9293 default
when its handshake had no option) lowered by any ICMP too-big path MTU. A
small one costs packets per byte. Connections with the same (role, effective
MSS, announced MSS) are one finding. Severity: warning below 1220 bytes for
IPv4 (a clamp or MTU far below any common tunnel) and for IPv6 (below
1280 - 60, the protocol minimum); info otherwise.

Many connections of a capture can share a small MSS, so the grouping runs over
the analysis's connection columns (`CaptureAnalysis.table`), and Python objects
are built only for the few connections cited as evidence.

A capture whose small MSS is all the path MTU allows (the ICMP too-big messages of the
same capture prove it) gets an info that says so: the path, not the host, is the limit.

Path: the server's MSS measured toward the destination (the kernel's send MSS, else the
SYN/ACK's option) below the threshold, unless it is all the exact path MTU allows (then
the path report's `mss.owner` says "path" and the mtu-drop finding carries the advice).

Two-ended: per direction, the MSS as it arrived, with the responder's proof of whether
it is the sender's own or was rewritten on the way.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from mtuscope.active.probe import SearchStop
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.calc.advice import TCP_IP_HEADERS
from mtuscope.calc.conventions import convention_text
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import connection_evidence, frame_evidence, icmp_mtu_field
from mtuscope.diagnose.rules.mss_owner import MssOwner, MssReading, path_reading, reading
from mtuscope.diagnose.rules.phrases import FactsIn, fact_family, fact_int, fact_mtu
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import UP
from mtuscope.passive.results import CaptureAnalysis
from mtuscope.wire.sizes import IPV6_MIN_MTU

KIND = "undersized-mss"
THRESHOLD = {4: 1380, 6: 1220}
"""An effective MSS below these costs extra packets per byte (DESIGN.md undersized-mss)."""
WARN_BELOW = IPV6_MIN_MTU - TCP_IP_HEADERS[6]
"""Below this a capture's small MSS is a warning: far below any common tunnel's clamp."""
MAX_CONNECTIONS = 5


REFERENCE = "RFC 9293 §3.7.1"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for small effective MSS values."""
    for (family, role, eff, announced), count, ids in _groups(analysis.table):
        conns = [analysis.connection(i) for i in ids]
        first = conns[0]
        host = MssOwner.SERVER if role == "client" else MssOwner.CLIENT
        pmtu = (first.client if role == "client" else first.server).path_mtu
        read = reading(eff, family=family, path_mtu=pmtu, host=host, announced=announced)
        evidence: list[Evidence] = []
        for conn in conns[:MAX_CONNECTIONS]:
            sender, receiver = (
                (conn.client, conn.server) if role == "client" else (conn.server, conn.client)
            )
            if read.owner is MssOwner.PATH and conn.too_big_frames:
                # The path's limit: cite the too-big message that proves the path MTU.
                evidence.append(
                    frame_evidence(
                        analysis.capture,
                        conn.too_big_frames[0],
                        icmp_mtu_field(family),
                        sender.path_mtu,
                        note=f"connection {conn.id}: effective MSS {eff} = path MTU - "
                        f"{TCP_IP_HEADERS[family]}",
                    )
                )
            elif receiver.handshake_frame is not None:
                evidence.append(
                    frame_evidence(
                        analysis.capture,
                        receiver.handshake_frame,
                        "tcp.options.mss_val",
                        announced if announced is not None else "absent",
                        THRESHOLD[family],
                        note=f"connection {conn.id}: effective MSS {eff} for the {role}",
                    )
                )
            elif conn.too_big_frames:
                evidence.append(
                    frame_evidence(
                        analysis.capture,
                        conn.too_big_frames[0],
                        icmp_mtu_field(family),
                        sender.path_mtu,
                        note=f"connection {conn.id}: effective MSS {eff}",
                    )
                )
        facts = _facts(read, family) | {
            "peer_mss": announced,
            "side": role,
            "connections": count,
        }
        hdr = TCP_IP_HEADERS[family]
        if read.owner is MssOwner.PATH and read.path_mtu is not None:
            why = (
                f"announced {announced if announced is not None else 'none'}): all the path "
                f"MTU {read.path_mtu} allows ({read.path_mtu} - {hdr}); the path, not the host, "
                "is the limit"
            )
        elif read.owner is MssOwner.CLAMP:
            why = (
                f"announced MSS {announced}, below {THRESHOLD[family]}; "
                f"{convention_text(read.conventions)}: likely a clamp on the way"
            )
        elif announced is not None:
            why = f"the {host}'s MSS option {announced}, below {THRESHOLD[family]}"
        else:
            why = f"no MSS option: the RFC 9293 default, below {THRESHOLD[family]}"
        close = "" if read.owner is MssOwner.PATH and read.path_mtu is not None else ")"
        yield RULE.finding(
            severity=_severity(read),
            summary=(
                f"{count} IPv{family} connection(s) let the {role} send at most {eff} "
                f"bytes per segment ({why}{close}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=first.id,
        )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for a small MSS of the server, measured toward the destination."""
    read = path_reading(obs)
    m = obs.mss
    limit = THRESHOLD[obs.family]
    if read is None or m is None or read.mss >= limit or read.owner is MssOwner.PATH:
        return
    which = "effective" if m.effective is not None else "announced"
    evidence: list[Evidence] = []
    if m.probe_id is not None:
        if m.server_announced is not None:
            evidence.append(
                Evidence(
                    field="tcp.options.mss",
                    observed=m.server_announced,
                    expected=read.path_allows,
                    probe=m.probe_id,
                    note="the SYN/ACK's MSS option",
                )
            )
        if m.effective is not None:
            ts = " (+12 for the timestamp option)" if m.timestamps else ""
            evidence.append(
                Evidence(
                    field="tcp_info.snd_mss",
                    observed=m.effective,
                    probe=m.probe_id,
                    note=f"effective MSS{ts}",
                )
            )
    q = read.quoted
    if q is not None:
        evidence.append(
            Evidence(
                field="tcp.options.mss_val",
                observed=q.seen,
                expected=q.sent,
                hop=q.changed_at if q.changed_at is not None else q.hop,
                probe=q.probe_id,
                note="our SYN's MSS as a router quoted it",
            )
        )
    if not evidence:
        return  # no probe to cite: no evidence, no finding
    allows = (
        f"; the path MTU {read.path_mtu} allows {read.path_allows}"
        if read.path_allows is not None
        else ""
    )
    if read.owner is MssOwner.CLAMP and q is not None and q.changed_at is not None:
        summary = (
            f"A clamp before hop {q.changed_at} rewrites the MSS (our SYN's {q.sent} quoted as "
            f"{q.seen}): segments to {obs.dst} carry at most {read.mss}, below {limit}{allows}"
        )
    elif read.owner is MssOwner.CLAMP:
        summary = (
            f"The {which} MSS {read.mss} toward {obs.dst} is "
            f"{convention_text(read.conventions)}: likely a clamp on the way, below {limit}"
            f"{allows}"
        )
    else:
        intact = (
            f"; our SYN reached hop {q.hop} with its MSS {q.sent} unchanged, so no clamp "
            "before it rewrote SYNs"
            if q is not None and q.changed_at is None
            else ""
        )
        summary = (
            f"The server {obs.dst} announces MSS {read.mss} itself (its SYN/ACK), below "
            f"{limit}{allows}{intact}"
        )
    facts = _facts(read, obs.family)
    if q is not None and q.changed_at is not None:
        facts["hop"] = q.changed_at
    yield RULE.finding(
        severity=_severity(read),
        summary=summary,
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
    )


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for a small MSS as it arrived in `direction`, with the responder's proof
    of whose it is: the sender's own (arrived unchanged) or a clamp's (rewritten)."""
    family = obs.seen.family
    limit = THRESHOLD[family]
    # Our SYN's MSS limits what the responder sends back to us: the reverse path. The
    # server's SYN/ACK MSS follows its route toward us, which carries the path MTU it has
    # learned for the reverse path (a kernel announces route MTU - 40 once it knows it).
    path_mtu: int | None = None
    rev = obs.reverse.result if obs.reverse is not None else None
    if rev is not None and rev.stop_reason in (SearchStop.CONVERGED, SearchStop.BLACKHOLE):
        path_mtu = rev.path_mtu
    if direction == UP:
        sent = obs.sent.mss if obs.sent is not None else obs.announced_mss
        seen: int | None = obs.seen.mss
        host, whose, packet = MssOwner.CLIENT, "client", "SYN"
    else:
        sent = obs.server_mss
        seen = obs.synack_seen.mss if obs.synack_seen is not None else None
        host, whose, packet = MssOwner.SERVER, f"server {obs.target.address}", "SYN/ACK"
    value = seen if seen is not None else sent
    if value is None or value >= limit:
        return
    both = sent is not None and seen is not None
    read = reading(
        value,
        family=family,
        path_mtu=path_mtu,
        host=host,
        rewritten=(sent != seen) if both else None,
    )
    if read.owner is MssOwner.PATH:
        return  # all the reverse path allows: the path verdict says so
    if read.owner is MssOwner.CLAMP and read.proven:
        summary = (
            f"A clamp on the way rewrites the {direction} MSS to {value} ({sent} sent, "
            f"{seen} arrived), below {limit}"
        )
    elif read.proven:
        summary = (
            f"The {whose} announces MSS {value} itself: its {packet} arrived with it "
            f"unchanged, below {limit}"
        )
    else:
        summary = f"The {direction} MSS {value} is below {limit}"
    yield RULE.finding(
        severity=_severity(read),
        summary=summary,
        evidence=connection_evidence(
            "tcp.options.mss", seen if seen is not None else value, sent, f"{packet} MSS"
        ),
        facts=_facts(read, family) | {"direction": direction, "original_mss": sent},
        platform=platform,
    )


def _facts(read: MssReading, family: int) -> Facts:
    return {
        "mss": read.mss,
        "owner": str(read.owner),
        "proven": "yes" if read.proven else "no",
        "path_mtu": read.path_mtu,
        "path_allows": read.path_allows,
        "family": family,
        "convention": convention_text(read.conventions),
    }


def _severity(read: MssReading) -> Severity:
    if read.owner is MssOwner.PATH:
        return Severity.INFO
    return Severity.WARNING if read.mss < WARN_BELOW else Severity.INFO


Group = tuple[tuple[int, str, int, int | None], int, list[int]]


def _groups(table: pl.DataFrame) -> list[Group]:
    """((family, role, effective MSS, announced MSS), connections, first ids) in order of
    each group's first connection (client before server within one)."""
    if table.height == 0:
        return []
    limit = pl.when(pl.col("family") == 4).then(THRESHOLD[4]).otherwise(THRESHOLD[6])
    sides = pl.concat(
        [
            table.select(
                "id",
                "family",
                role=pl.lit(role),
                rank=pl.lit(rank),
                eff=pl.col(role).struct.field("effective_mss"),
                announced=pl.col(peer).struct.field("mss"),
                heard=pl.col(peer).struct.field("handshake_frame").is_not_null()
                | (pl.col("too_big_frames").list.len() > 0),
            )
            for rank, (role, peer) in enumerate((("client", "server"), ("server", "client")))
        ]
    )
    small = sides.filter(pl.col("eff").is_not_null() & (pl.col("eff") < limit) & pl.col("heard"))
    grouped = (
        small.sort("id", "rank")
        .group_by("family", "role", "eff", "announced", maintain_order=True)
        .agg(count=pl.len(), ids=pl.col("id").head(MAX_CONNECTIONS))
    )
    return [
        ((int(f), str(r), int(e), None if a is None else int(a)), int(n), list(ids))
        for f, r, e, a, n, ids in grouped.iter_rows()
    ]


def advise(f: FactsIn) -> Advice:
    """What to raise, and where, by whose the MSS is (`facts["owner"]`)."""
    fam, mss, mtu = fact_family(f), fact_int(f, "mss"), fact_mtu(f)
    hdr = TCP_IP_HEADERS[fam]
    owner = str(f.get("owner") or "")
    value = str(mss) if mss is not None else "in use"
    conv = f" ({f['convention']})" if f.get("convention") else ""
    target = (
        f"{mtu - hdr}, which the path MTU {mtu} allows"
        if mtu is not None
        else f"path MTU - {hdr} (measure the path MTU: mtuscope probe)"
    )
    if owner == MssOwner.PATH and mtu is not None:
        return (
            f"Nothing on the hosts to raise: the MSS {value} is all the path MTU {mtu} allows "
            f"({mtu} - {hdr}); the path, not the host, is the limit. More data per segment "
            "needs a larger MTU where the path narrows (a tunnel's is fixed by its "
            "encapsulation).",
            None,
        )
    if owner == MssOwner.CLAMP:
        return (
            f"A clamp on the way{_where(f)} lowers the MSS to {value}{conv}: every segment "
            "carries less data than the path could, costing packets and throughput. Raise the "
            f"`adjust-mss`/TCPMSS value to {target}, for IPv4 and IPv6 alike.",
            mtu,
        )
    if owner in (MssOwner.SERVER, MssOwner.CLIENT) and f.get("proven") == "yes":
        return (
            f"The {owner} announces the MSS {value} itself (its interface MTU, or a route's "
            f"`advmss`, sets it): raise it on that host to {target}; no router on the way "
            "needs changing.",
            mtu,
        )
    if owner in (MssOwner.SERVER, MssOwner.CLIENT):
        return (
            f"The {owner}'s handshake carries the MSS {value}: its own setting (its interface "
            "MTU, or a route's `advmss`) unless a clamp on the way rewrote it, which one "
            f"vantage point cannot rule out (mtuscope responder-check, or a capture at the "
            f"{owner}, tells them apart). Raise it where it is set to {target}.",
            mtu,
        )
    return (
        f"The MSS {value} is below {THRESHOLD[fam]}: every segment carries less data than it "
        "could. Find whose it is (the host's own setting, or a clamp on the way: "
        f"mtuscope responder-check tells them apart) and raise it to {target}.",
        mtu,
    )


def _where(f: FactsIn) -> str:
    return f" before hop {f['hop']}" if f.get("hop") is not None else ""


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
