"""Rule `tcp-option-changed`: a TCP option other than the MSS added, stripped or changed.

Layer: diagnose/. Pure functions of a `CompareResult`, a `MiddleboxResult` and a
`TwoEndedObservation`; no I/O. A warning: TCP normalisation that strips window
scaling, SACK or timestamps costs throughput.

- Two capture points: one finding per (direction, option, values).
- Middlebox walk: one finding per stretch between two hops, listing its option changes.
- Two-ended: per option of the client's SYN as captured against the SYN the responder saved.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from mtuscope.active.middlebox_result import MiddleboxResult, PathChange
from mtuscope.active.quote_diff import MSS_FIELD, OPTION_FIELDS
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import connection_evidence, quote_evidence, quote_facts
from mtuscope.diagnose.rules.phrases import FactsIn, change_between
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import UP, change_groups, key_value
from mtuscope.passive.compare import Change, CompareResult, ConnectionComparison
from mtuscope.wire.enums import TcpOptionKind

KIND = "tcp-option-changed"

SYN_OPTIONS = (
    ("tcp.options.wscale.shift", "Window scale", "wscale"),
    ("tcp.options.sack_perm", "SACK-permitted", "sack_permitted"),
    ("tcp.options.timestamp", "Timestamps", "timestamps"),
)
"""(Wireshark field, name for people, `SynView` attribute) of the options compared one by one."""
OPTION_NAMES = {field: name for field, name, _ in SYN_OPTIONS}
PADDING = (TcpOptionKind.EOL, TcpOptionKind.NOP)
"""End of option list and no-operation (RFC 9293 §3.2)."""
_KNOWN = (
    *PADDING,
    TcpOptionKind.MSS,
    TcpOptionKind.WSCALE,
    TcpOptionKind.SACK_PERMITTED,
    TcpOptionKind.TIMESTAMPS,
)
"""Padding, MSS (compared by mss-rewritten), and the `SYN_OPTIONS` compared one by one."""


REFERENCE = "RFC 7323; RFC 2018"


def option_names(kinds: tuple[int, ...]) -> str:
    """The option kinds of a SYN without padding, as "SACK_PERMITTED,TIMESTAMP" (or "none")."""
    shown = [str(TcpOptionKind(k)) for k in kinds if k not in PADDING]
    return ",".join(shown) or "none"


def _key(m: ConnectionComparison, c: Change) -> tuple[Hashable, ...]:
    return (c.direction, c.field, c.a, c.b, c.note)


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for options that differ between the two capture points."""
    for group in change_groups(result, KIND, _key):
        _, field, a, b, how = group.key
        name = OPTION_NAMES.get(str(field), str(field))
        yield group.finding(
            RULE,
            result,
            summary=(
                f"{name} in the {group.direction} handshake is {how} between the capture "
                f"points: {a} at A, {b} at B ({group.connections_text()})"
            ),
            facts=group.facts() | {"option": name, "a": key_value(a), "b": key_value(b)},
            platform=platform,
        )


def check_middlebox(result: MiddleboxResult, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for options changed along the path, one per stretch between two hops."""
    stretches: dict[tuple[int, int], list[PathChange]] = {}
    for change in result.changes:
        if change.field in OPTION_FIELDS and change.field != MSS_FIELD:
            stretches.setdefault((change.from_ttl, change.to_ttl), []).append(change)
    for changes in stretches.values():
        first = changes[0]
        names = ", ".join(f"{c.field} {c.before} -> {c.after}" for c in changes)
        facts = quote_facts(result, first)
        facts["option"] = first.field.removeprefix("tcp.options.") or "option list"
        yield RULE.finding(
            summary=f"TCP options changed {change_between(first)}: {names}",
            evidence=tuple(e for c in changes for e in quote_evidence(c)),
            facts=facts,
            platform=platform,
            reference="RFC 9293 §3.2; RFC 7413 §7 (middleboxes and TCP options)",
        )


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """Findings for options of the client's SYN that arrived changed."""
    sent, seen = obs.sent, obs.seen
    if direction != UP or sent is None:
        return
    for field, name, attr in SYN_OPTIONS:
        a, b = getattr(sent, attr), getattr(seen, attr)
        if a != b:
            how = "stripped" if b in (None, False) else "added" if a in (None, False) else "changed"
            yield _two_ended(field, name, how, _shown(a), _shown(b), sent.family, platform)
    others = [k for k in sent.option_kinds if k not in _KNOWN]
    others_seen = [k for k in seen.option_kinds if k not in _KNOWN]
    if sorted(others) != sorted(others_seen):
        a, b = option_names(tuple(others)), option_names(tuple(others_seen))
        how = "stripped" if len(others_seen) < len(others) else "added or changed"
        yield _two_ended("tcp.options", "Options", how, a, b, sent.family, platform)


def _two_ended(
    field: str, name: str, how: str, sent: str, seen: str, family: int, platform: str | None
) -> Finding:
    facts: Facts = {"direction": UP, "option": name, "a": sent, "b": seen, "family": family}
    return RULE.finding(
        summary=f"{name} in the {UP} handshake is {how} in the path: {sent} sent, {seen} arrived",
        evidence=connection_evidence(
            field, seen, sent, "SYN captured at the client, saved at the responder"
        ),
        facts=facts,
        platform=platform,
    )


def _shown(value: object) -> str:
    if value is None or value is False:
        return "absent"
    if value is True:
        return "present"
    return str(value)


def advise(f: FactsIn) -> Advice:
    """Turn off TCP normalisation for the option."""
    opt = f.get("option") or "A TCP option"
    return (
        f"{opt} is added, stripped or changed in the path: look for TCP normalisation on "
        "firewalls (Cisco ASA tcp-map, FortiOS, NAT boxes) and turn it off for the option, "
        "since stripping window scaling, SACK or timestamps costs throughput (RFC 7323).",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
