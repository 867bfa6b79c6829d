"""Rule `mss-rewritten`: the MSS option differs between two vantage points (a clamp).

Layer: diagnose/. Pure functions of a `CaptureAnalysis`, a `CompareResult`, a
`MiddleboxResult` and a `TwoEndedObservation`; no I/O. Info: clamping is often
deliberate; the advice says what value would be right.

- One capture point: many unrelated hosts cannot agree by chance on an MSS that no
  default stack announces. When the SYN/ACKs of at least `MIN_HOSTS` servers in at least
  `MIN_NETWORKS` networks (/16 IPv4, /48 IPv6) all carry the same such value, and (almost)
  no server announces more (a clamp caps every SYN it forwards, RFC 4459 §3.2), a clamp
  on the way rewrote them, unless the other side announced no more (hosts that answer
  with the peer's MSS agree on it too); the same for the clients' SYNs seen at a server. The finding
  gives the counts, the value, what the other side announced, and the convention the
  value matches (1360 = `ip tcp adjust-mss 1360` on a 1400-byte tunnel).
- Two capture points: one finding per (direction, MSS before, MSS after, upstream point).
- Middlebox walk: one per change of the quoted MSS, placed between two hops.
- Path (probe with TCP SYN probes): routers' quotes of our SYNs show another MSS than we
  sent, from the first hop whose quote shows it.
- Two-ended: per direction, the MSS sent against the MSS that arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from ipaddress import ip_network

import polars as pl

from mtuscope.active.middlebox_result import MiddleboxResult, PathChange
from mtuscope.active.quote_diff import MSS_FIELD
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.calc.advice import TCP_IP_HEADERS, usable_mtu
from mtuscope.calc.conventions import convention_text, conventions_for_mss
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import (
    connection_evidence,
    frame_evidence,
    quote_evidence,
    quote_facts,
)
from mtuscope.diagnose.rules.mss_owner import quoted_mss
from mtuscope.diagnose.rules.phrases import FactsIn, at_hop, change_between, fact_family, fact_int
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import UP, change_groups, key_value, upstream
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison
from mtuscope.passive.results import CaptureAnalysis

KIND = "mss-rewritten"
REFERENCE = "RFC 9293 §3.7.1"

MIN_HOSTS = 5
"""One capture point: at least this many distinct hosts must announce the same value."""
MIN_NETWORKS = 3
"""... from at least this many distinct networks (`NETWORK_PREFIX`)."""
NETWORK_PREFIX = {4: 16, 6: 48}
"""The prefix length that tells unrelated networks apart (a /16 IPv4, a /48 IPv6 site)."""
MAX_ABOVE = 0.1
"""At most this share of the hosts may announce more (hosts reached around the clamp,
on the local network); a clamp lets nothing larger through."""
STACK_DEFAULTS: dict[int, frozenset[int]] = {
    # RFC 9293 default (no option) and RFC 8200 §5's 1280 - 60; Ethernet 1500; jumbo 9000
    # and AWS's 9001; Google Cloud's 1460-byte VPC MTU; Linux loopback (65536).
    4: frozenset({536, 1460, 8960, 8961, 1420, 65495}),
    6: frozenset({1220, 1440, 8940, 8941, 1400, 65476}),
}
"""MSS values hosts announce by themselves from common link MTUs: agreeing on one of
these proves nothing."""
MAX_CAPTURE_FRAMES = 8
"""Handshake frames cited, one per host."""
ROLES = (("server", "client"), ("client", "server"))
"""(the side whose MSS was rewritten, the other side)."""


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    up = upstream(m, c.direction)
    orig, new = (c.a, c.b) if up == "a" else (c.b, c.a)
    return (c.direction, orig, new, up)


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for one MSS value that many unrelated hosts all announce (a clamp's)."""
    table = analysis.table
    if table.height == 0:
        return
    for role, peer in ROLES:
        sides = table.select(
            "id",
            "family",
            address=pl.col(role).struct.field("address"),
            mss=pl.col(role).struct.field("mss"),
            frame=pl.col(role).struct.field("handshake_frame"),
            peer_mss=pl.col(peer).struct.field("mss"),
            peer_frame=pl.col(peer).struct.field("handshake_frame"),
        ).filter(pl.col("frame").is_not_null() & pl.col("mss").is_not_null())
        for family in (4, 6):
            rows = sides.filter(pl.col("family") == family).sort("id")
            if rows.height >= MIN_HOSTS:
                yield from _one_value(analysis, rows, family, role, peer, platform)


def _one_value(
    analysis: CaptureAnalysis,
    rows: pl.DataFrame,
    family: int,
    role: str,
    peer: str,
    platform: str | None,
) -> Iterator[Finding]:
    """The finding for the `role` hosts of one family, when they agree on a clamp's value."""
    # Each host once, with the largest MSS it announced (a clamp caps them all).
    hosts = rows.group_by("address").agg(pl.col("mss").max())
    counts = Counter(int(m) for m in hosts["mss"])
    value, n = counts.most_common(1)[0]
    if value in STACK_DEFAULTS[family] or n < MIN_HOSTS:
        return
    above = sum(c for m, c in counts.items() if m > value)
    if above > MAX_ABOVE * hosts.height:
        return
    agreeing = rows.filter(pl.col("mss") == value)
    addresses = list(dict.fromkeys(str(a) for a in agreeing["address"]))
    networks = {ip_network(f"{a}/{NETWORK_PREFIX[family]}", strict=False) for a in addresses}
    if len(networks) < MIN_NETWORKS:
        return
    peer_values = Counter(int(m) for m in agreeing["peer_mss"] if m is not None)
    peer_mss = peer_values.most_common(1)[0][0] if peer_values else None
    if peer_mss is not None and peer_mss <= value:
        # The other side announced no more: hosts (load balancers, some stacks) that answer
        # with the peer's MSS would agree on it too; nothing shows a rewrite.
        return
    cap = analysis.capture
    evidence: list[Evidence] = []
    seen: set[str] = set()
    for row in agreeing.iter_rows(named=True):
        if row["address"] in seen or len(evidence) >= MAX_CAPTURE_FRAMES:
            continue
        seen.add(row["address"])
        evidence.append(
            frame_evidence(
                cap,
                int(row["frame"]),
                "tcp.options.mss_val",
                value,
                note=f"connection {row['id']}: {role} {row['address']}",
            )
        )
    peer_row = next(
        (r for r in agreeing.iter_rows(named=True) if r["peer_frame"] is not None), None
    )
    if peer_row is not None:
        evidence.append(
            frame_evidence(
                cap,
                int(peer_row["peer_frame"]),
                "tcp.options.mss_val",
                peer_row["peer_mss"] if peer_row["peer_mss"] is not None else "absent",
                note=f"connection {peer_row['id']}: what the {peer} announced",
            )
        )
    convention = convention_text(conventions_for_mss(value, family))
    packet = "SYN/ACK" if role == "server" else "SYN"
    facts: Facts = {
        "mss": value,
        "original_mss": None,
        "family": family,
        "side": role,
        "hosts": len(addresses),
        "networks": len(networks),
        "network_prefix": NETWORK_PREFIX[family],
        "connections": agreeing.height,
        "peer_mss": peer_mss,
        "hosts_above": above,
        "convention": convention,
    }
    matches = f"; {value} matches {convention}" if convention else ""
    peers = f", while the {peer}s announced {peer_mss}" if peer_mss is not None else ""
    yield RULE.finding(
        summary=(
            f"The {packet}s of {len(addresses)} {role}s in {len(networks)} networks "
            f"(/{NETWORK_PREFIX[family]}, {agreeing.height} connections) all carry MSS "
            f"{value}, a value no default stack announces{peers}: a clamp on the way "
            f"rewrote them{matches}"
        ),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
        connection=int(agreeing["id"][0]),
        reference="RFC 9293 §3.7.1; RFC 4459 §3.2 (MSS clamping)",
    )


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for our SYN probes' MSS rewritten on the way, as routers quoted it."""
    q = quoted_mss(obs.records)
    if q is None or q.changed_at is None:
        return
    facts: Facts = {
        "original_mss": q.sent,
        "mss": q.seen,
        "family": obs.family,
        "hop": f"{q.changed_at - 1} or {q.changed_at}" if q.changed_at > 1 else "1",
        "convention": convention_text(conventions_for_mss(q.seen, obs.family)),
    }
    yield RULE.finding(
        summary=(
            f"MSS rewritten {q.sent} -> {q.seen} before hop {q.changed_at}: our SYN's MSS as "
            "the routers quoted it"
        ),
        evidence=(
            Evidence(
                field=MSS_FIELD,
                observed=q.seen,
                expected=q.sent,
                hop=q.hop,
                probe=q.probe_id,
                note=f"quoted by {q.address}" if q.address is not None else None,
            ),
        ),
        facts=facts,
        platform=platform,
        reference="RFC 9293 §3.7.1; RFC 4459 §3.2 (MSS clamping)",
    )


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for MSS options that differ between the two capture points."""
    for group in change_groups(result, KIND, _key):
        _, orig, new, up = group.key
        down = "b" if up == "a" else "a"
        facts = group.facts() | {
            "original_mss": key_value(orig),
            "mss": key_value(new),
            "upstream": str(up),
        }
        yield group.finding(
            RULE,
            result,
            summary=(
                f"The {group.direction} MSS is rewritten between the capture points: "
                f"{orig if orig is not None else 'no MSS'} at {str(up).upper()}, "
                f"{new if new is not None else 'no MSS'} at {down.upper()} "
                f"({group.connections_text()})"
            ),
            facts=facts,
            platform=platform,
        )


def check_middlebox_change(
    result: MiddleboxResult, change: PathChange, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for one change of the quoted MSS along the path."""
    if change.field != MSS_FIELD:
        return
    facts = quote_facts(result, change)
    facts.update(original_mss=_int(change.before), mss=_int(change.after))
    yield RULE.finding(
        summary=f"MSS rewritten {change.before} -> {change.after} {change_between(change)}",
        evidence=quote_evidence(change),
        facts=facts,
        platform=platform,
        reference="RFC 9293 §3.7.1; RFC 4459 §3.2 (MSS clamping)",
    )


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for an MSS that arrived other than it was sent, in `direction`.

    Client->server compares our SYN as captured (else the MSS the client kernel
    announced) with the SYN the responder saved; server->client the responder's
    announced MSS with its SYN/ACK as it arrived."""
    if direction == UP:
        if obs.sent is not None:
            sent, seen, how = obs.sent.mss, obs.seen.mss, "captured at the client"
        elif obs.announced_mss is not None:
            sent, seen, how = obs.announced_mss, obs.seen.mss, "from the client kernel's TCP_INFO"
        else:
            return
    elif obs.synack_seen is not None and obs.server_mss is not None:
        sent, seen, how = obs.server_mss, obs.synack_seen.mss, "from the responder's TCP_INFO"
    else:
        return
    if sent == seen:
        return
    where = "the responder" if direction == UP else "the client"
    facts: Facts = {
        "direction": direction,
        "original_mss": sent,
        "mss": seen,
        "family": obs.seen.family,
    }
    yield RULE.finding(
        summary=(
            f"The {direction} MSS is rewritten in the path: "
            f"{sent if sent is not None else 'no MSS'} sent, "
            f"{seen if seen is not None else 'no MSS'} arrived at {where}"
        ),
        evidence=connection_evidence(
            "tcp.options.mss",
            seen,
            sent,
            f"{'SYN' if direction == UP else 'SYN/ACK'}: sent value {how}",
        ),
        facts=facts,
        platform=platform,
    )


def _int(value: int | str) -> int | None:
    return value if isinstance(value, int) else None


def advise(f: FactsIn) -> Advice:
    """Check that the clamp matches the path, in both directions and for IPv6."""
    orig, now = fact_int(f, "original_mss"), fact_int(f, "mss")
    change = f" from {orig} to {now}" if orig and now else ""
    mtu = now + TCP_IP_HEADERS[fact_family(f)] if now else None
    conv = f" The value matches {f['convention']}." if f.get("convention") else ""
    return (
        f"A middlebox{at_hop(f)} rewrites the MSS{change} (an `adjust-mss`/TCPMSS clamp).{conv} "
        "That "
        "is fine when the value matches the path; check that it equals the path MTU less "
        f"{TCP_IP_HEADERS[4]} (IPv4) / {TCP_IP_HEADERS[6]} (IPv6), that it applies to both "
        "directions, and to IPv6 as well.",
        mtu if usable_mtu(mtu) else None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
