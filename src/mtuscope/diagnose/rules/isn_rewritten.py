"""Rule `isn-rewritten`: sequence numbers offset between two vantage points.

Layer: diagnose/. Pure functions of a `CompareResult`, a `MiddleboxResult` and a
`TwoEndedObservation`; no I/O. An ISN-randomising firewall or a TCP proxy.

- Two capture points: one info finding per direction, with the offsets seen.
- Middlebox walk: one info finding per change of the quoted sequence number.
- Two-ended: the client's SYN as captured against the SYN the responder saved (the
  ISN is invisible without the capture, which needs privilege).

Only an offset without the other signs of a terminated connection: a TCP proxy
(another source port, hop count, or a SYN/ACK from nearer than the destination)
has its own ISN because it opens its own connection, and is `tcp-proxy`
(diagnose/rules/tcp_proxy.py), with other advice.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from mtuscope.active.middlebox_result import MiddleboxResult, PathChange
from mtuscope.active.quote_diff import SEQ_FIELD
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import connection_evidence, quote_evidence, quote_facts
from mtuscope.diagnose.rules.phrases import FactsIn, change_between
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.tcp_proxy import is_new_connection, proxied, proxy_answers
from mtuscope.diagnose.rules.two_points import UP, change_groups
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison

KIND = "isn-rewritten"
SEQ_SPACE = 1 << 32
"""TCP sequence numbers are modulo 2**32 (RFC 9293 §3.4)."""
_RFC_ISN = "RFC 6528 §3; RFC 9293 §3.4.1"


REFERENCE = "RFC 9293 §3.4.1"


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    # A connection split by a proxy between the points is `tcp-proxy`, not an offset.
    return (c.direction, proxied(m))


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for sequence numbers offset between the two capture points."""
    for group in change_groups(result, KIND, _key):
        if group.key[1]:
            continue
        changes = group.changes
        deltas = sorted({c.delta for c in changes if c.delta is not None})
        shown = ", ".join(str(d) for d in deltas[:3]) + (", ..." if len(deltas) > 3 else "")
        yield group.finding(
            RULE,
            result,
            summary=(
                f"The {group.direction} sequence numbers are offset by {shown} between A and B "
                f"({group.connections_text()})"
            ),
            facts=group.facts() | {"offset": changes[0].delta},
            platform=platform,
        )


def check_middlebox_change(
    result: MiddleboxResult, change: PathChange, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for one change of the quoted sequence number along the path."""
    if change.field != SEQ_FIELD or proxy_answers(result.tcp_end):
        return
    facts = quote_facts(result, change)
    if isinstance(change.before, int) and isinstance(change.after, int):
        facts["offset"] = (change.after - change.before) % SEQ_SPACE
    yield RULE.finding(
        summary=f"TCP sequence number rewritten {change_between(change)}",
        evidence=quote_evidence(change),
        facts=facts,
        platform=platform,
        reference=_RFC_ISN,
    )


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for the client's ISN arriving other than it was sent."""
    sent, seen = obs.sent, obs.seen
    if direction != UP or sent is None or sent.seq == seen.seq or is_new_connection(obs):
        return
    offset = (seen.seq - sent.seq) % SEQ_SPACE
    facts: Facts = {"direction": UP, "offset": offset, "family": sent.family}
    yield RULE.finding(
        summary=(
            f"The client's initial sequence number is rewritten in the path: "
            f"{sent.seq} sent, {seen.seq} arrived (offset {offset})"
        ),
        evidence=connection_evidence(
            "tcp.seq_raw", seen.seq, sent.seq, "SYN captured at the client, saved at the responder"
        ),
        facts=facts,
        platform=platform,
    )


def advise(f: FactsIn) -> Advice:
    """Harmless alone; breaks SACK and signatures unless those are rewritten too."""
    return (
        "A firewall or proxy offsets TCP sequence numbers (ISN randomisation, e.g. Cisco ASA "
        "`set connection random-sequence-number`). Harmless by itself, but it breaks SACK and "
        "TCP-AO/MD5 signatures if it does not rewrite them too: disable it for those flows, or "
        "compare the two capture points by payload rather than by sequence number.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
