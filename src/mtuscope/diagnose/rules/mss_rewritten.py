"""Rule `mss-rewritten`: the MSS option differs between two vantage points (a clamp).

Layer: diagnose/. Pure functions of a `CompareResult`, a `MiddleboxResult` and a
`TwoEndedObservation`; no I/O. Info: clamping is often deliberate; the advice says
what value would be right.

- Two capture points: one finding per (direction, MSS before, MSS after, upstream point).
- Middlebox walk: one per change of the quoted MSS, placed between two hops.
- Two-ended: per direction, the MSS sent against the MSS that arrived.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from mtuscope.active.middlebox_result import MiddleboxResult, PathChange
from mtuscope.active.quote_diff import MSS_FIELD
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.calc.advice import TCP_IP_HEADERS, usable_mtu
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import connection_evidence, quote_evidence, quote_facts
from mtuscope.diagnose.rules.phrases import FactsIn, at_hop, change_between, fact_family, fact_int
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import UP, change_groups, key_value, upstream
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison

KIND = "mss-rewritten"
REFERENCE = "RFC 9293 §3.7.1"


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    up = upstream(m, c.direction)
    orig, new = (c.a, c.b) if up == "a" else (c.b, c.a)
    return (c.direction, orig, new, up)


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
    return (
        f"A middlebox{at_hop(f)} rewrites the MSS{change} (an `adjust-mss`/TCPMSS clamp). That "
        "is fine when the value matches the path; check that it equals the path MTU less "
        f"{TCP_IP_HEADERS[4]} (IPv4) / {TCP_IP_HEADERS[6]} (IPv6), that it applies to both "
        "directions, and to IPv6 as well.",
        mtu if usable_mtu(mtu) else None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
