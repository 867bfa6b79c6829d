"""Rule `address-translated`: addresses or ports differ between two vantage points (NAT).

Layer: diagnose/. Pure functions of a `TwoEndedObservation`; no I/O. Info: a NAT
is no MTU problem by itself.

Only the far end can see it. A NAT translates the packet quoted inside an ICMP
error back on its way to the client (RFC 5508 REQ-3; Linux's
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
from mtuscope.diagnose.rules.tcp_proxy import is_new_connection
from mtuscope.diagnose.rules.two_points import UP

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
