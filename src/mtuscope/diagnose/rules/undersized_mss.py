"""Rule `undersized-mss`: the effective MSS is below 1380 (IPv4) or 1220 (IPv6).

Layer: diagnose/. Pure functions of a `CaptureAnalysis` and of `PathObservations`; no I/O.

Capture: the effective MSS of a direction is the peer's MSS (or the RFC 9293 default
when its handshake had no option) lowered by any ICMP too-big path MTU. A
small one costs packets per byte. Connections with the same (role, effective
MSS, announced MSS) are one finding. Severity: warning below 1220 bytes for
IPv4 (a clamp or MTU far below any common tunnel) and for IPv6 (below
1280 - 60, the protocol minimum); info otherwise.

Many connections of a capture can share a small MSS, so the grouping runs over
the analysis's connection columns (`CaptureAnalysis.table`), and Python objects
are built only for the few connections cited as evidence.

Path: the MSS measured toward the destination (effective, else announced) is below
the threshold: info, cited by the probe or connection that measured it.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from mtuscope.calc.advice import TCP_IP_HEADERS, clamp_mss
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import frame_evidence, icmp_mtu_field, path_mss
from mtuscope.diagnose.rules.phrases import FactsIn, fact_family, fact_int, fact_mtu
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
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
        evidence: list[Evidence] = []
        for conn in conns[:MAX_CONNECTIONS]:
            sender, receiver = (
                (conn.client, conn.server) if role == "client" else (conn.server, conn.client)
            )
            if receiver.handshake_frame is not None:
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
        first = conns[0]
        sender = first.client if role == "client" else first.server
        facts: Facts = {
            "mss": eff,
            "peer_mss": announced,
            "path_mtu": sender.path_mtu,
            "family": family,
            "side": role,
            "connections": count,
        }
        why = f"announced MSS {announced}" if announced is not None else "no MSS option"
        yield RULE.finding(
            severity=Severity.WARNING if eff < WARN_BELOW else Severity.INFO,
            summary=(
                f"{count} IPv{family} connection(s) let the {role} send at most {eff} "
                f"bytes per segment ({why}), below {THRESHOLD[family]}"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
            connection=first.id,
        )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for a small MSS measured toward the destination."""
    measured = path_mss(obs)
    if measured is None:
        return
    value, which, mine = measured
    limit = THRESHOLD[obs.family]
    if value is None or not mine or value >= limit:
        return
    yield RULE.finding(
        summary=f"The {which} MSS {value} is below {limit}",
        evidence=mine,
        facts={"mss": value, "path_mtu": obs.path_mtu, "family": obs.family},
        platform=platform,
    )


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
    """Find the over-eager clamp or small MTU and raise it to what the path allows."""
    fam, mss, mtu = fact_family(f), fact_int(f, "mss"), fact_mtu(f)
    best = f"{clamp_mss(mtu, fam)}, which the path MTU {mtu} allows" if mtu is not None else None
    return (
        f"The MSS {mss if mss is not None else 'in use'} is below {THRESHOLD[fam]}: every "
        "segment carries less data than it could, costing packets and throughput. Look for an "
        "over-eager `adjust-mss`/TCPMSS clamp or a small interface MTU on the way and raise it"
        f"{' to ' + best if best else ' to path MTU - ' + str(TCP_IP_HEADERS[fam])}.",
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
