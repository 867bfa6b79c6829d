"""Rule `address-translated`: addresses or ports differ between two vantage points (NAT).

Layer: diagnose/. Pure functions of a `CompareResult` and a `TwoEndedObservation`;
no I/O. Info: a NAT is no MTU problem by itself.

Two capture points see it in the matched connections (`ConnectionComparison.nat`):
one finding per set of translated fields, over the connections. Only the far end
(a capture there, or the responder) can see it otherwise: a NAT translates the
packet quoted inside an ICMP error back on its way to the client (RFC 5508 REQ-3; Linux's
nf_nat_icmp_reply_translation), so `middlebox`'s quotes show the client's own
addresses and ports. The responder reports the SYN's source address and port as
it arrived (its accept() peer and the saved SYN): compared with our socket's own,
they show the translation. A TCP proxy, which opens a connection of its own, is
`tcp-proxy` instead (diagnose/rules/tcp_proxy.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.active.syn_view import Endpoint, TwoEndedObservation
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import CONNECTION_PROBE
from mtuscope.diagnose.rules.phrases import FactsIn
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.tcp_proxy import is_new_connection, proxied
from mtuscope.diagnose.rules.two_points import MAX_EVIDENCE_CONNECTIONS, UP
from mtuscope.passive.compare import CompareResult, ConnectionComparison

KIND = "address-translated"
REFERENCE = "RFC 3022 §2; RFC 5508 REQ-3 (ICMP errors translated back)"


def _fields(family: int) -> tuple[str, str]:
    return ("ip.src", "ip.dst") if family == 4 else ("ipv6.src", "ipv6.dst")


def translations(obs: TwoEndedObservation) -> list[tuple[str, str, Endpoint, Endpoint]]:
    """(which end, Wireshark field, our view, the responder's view) for each end whose
    address or port differs; client first."""
    src, dst = _fields(obs.seen.family)
    out: list[tuple[str, str, Endpoint, Endpoint]] = []
    for end, field, mine, theirs in (
        ("client", src, obs.local, obs.server_peer),
        ("server", dst, obs.target, obs.server_local),
    ):
        if mine != theirs:
            out.append((end, field, mine, theirs))
    return out


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for addresses or ports that differ between the two capture points."""
    groups: dict[tuple[str, ...], list[ConnectionComparison]] = {}
    for m in result.matches:
        if m.nat and not proxied(m):
            groups.setdefault(m.nat, []).append(m)
    for what, conns in groups.items():
        evidence = tuple(
            Evidence(
                field="tcp.stream",
                observed=f"{h.client}:{h.client_port} -> {h.server}:{h.server_port}",
                capture=cap,
                frame=h.syn_frame or h.first_frame,
                note=f"connection {h.id} at {point}",
            )
            for m in conns[:MAX_EVIDENCE_CONNECTIONS]
            for cap, h, point in ((result.capture_a, m.a, "A"), (result.capture_b, m.b, "B"))
        )
        n = len(conns)
        facts: Facts = {
            "family": conns[0].a.family,
            "connections": n,
            "translated": ", ".join(what),
        }
        yield RULE.finding(
            summary=(
                f"Addresses are translated between the capture points (NAT): {', '.join(what)} "
                f"({n} connection{'s' if n != 1 else ''})"
            ),
            evidence=evidence,
            facts=facts,
            platform=platform,
            connection=conns[0].a.id,
        )


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for addresses or ports the responder saw other than we used."""
    if direction != UP or is_new_connection(obs):
        return
    for end, field, mine, theirs in translations(obs):
        evidence: list[Evidence] = []
        if mine.address != theirs.address:
            evidence.append(
                Evidence(
                    field=field,
                    observed=str(theirs.address),
                    expected=str(mine.address),
                    probe=CONNECTION_PROBE,
                    note=f"the {end} address as the responder saw it, against ours",
                )
            )
        if mine.port != theirs.port:
            evidence.append(
                Evidence(
                    field="tcp.srcport" if end == "client" else "tcp.dstport",
                    observed=theirs.port,
                    expected=mine.port,
                    probe=CONNECTION_PROBE,
                    note=f"the {end} port as the responder saw it, against ours",
                )
            )
        facts: Facts = {
            "family": obs.seen.family,
            "end": end,
            "address": str(theirs.address),
            "port": theirs.port,
            "original_address": str(mine.address),
            "original_port": mine.port,
        }
        who = "Our" if end == "client" else "The responder's"
        yield RULE.finding(
            summary=(
                f"{who} address is translated in the path (NAT): {mine.address} port "
                f"{mine.port} here, {theirs.address} port {theirs.port} at the responder"
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
        )


def advise(f: FactsIn) -> Advice:
    """A NAT is fine; what it means for PMTU discovery and for matching captures."""
    return (
        "A NAT rewrites addresses or ports on the way (the client's source, or the server's "
        "destination). That is no MTU problem by itself; it must translate the ICMP too-big "
        "messages it forwards back as well (RFC 5508), or PMTU discovery fails behind it. "
        "Match captures taken on either side by the translated addresses and ports.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
