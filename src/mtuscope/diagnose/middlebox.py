"""Findings and the report body of a per-hop middlebox walk (`mtuscope middlebox`).

Layer: diagnose/. Pure: turns a frozen `MiddleboxResult` into `Finding`s from
DESIGN.md's vocabulary and into the JSON body of a `Report(kind="middlebox")`.
No I/O, no clock. Every finding names the hops and probes behind it
(`Evidence(hop=<ttl>, probe=<id>)`); advice comes from calc/.

Kinds used: `mss-rewritten` (the quoted MSS changed between two hops),
`tcp-option-changed` (another option added, stripped or changed), and
`isn-rewritten` (the quoted sequence number changed, or a TCP proxy answered
for the destination: it re-originates the connection with its own ISN). Changes
of IP fields (DSCP/ECN, IP id, DF, addresses, ports) have no kind of their own:
they are listed in the body's `changes` and shown by report/.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.active.middlebox import (
    MSS_FIELD,
    OPTION_FIELDS,
    SEQ_FIELD,
    MiddleboxResult,
    PathChange,
)
from mtuscope.active.probe import IPAddress
from mtuscope.calc.advice import advise
from mtuscope.diagnose.findings import Evidence, Finding, Severity

_RFC_MSS = "RFC 9293 §3.7.1; RFC 4459 §3.2 (MSS clamping)"
_RFC_OPTIONS = "RFC 9293 §3.2; RFC 7413 §7 (middleboxes and TCP options)"
_RFC_ISN = "RFC 6528 §3; RFC 9293 §3.4.1"


def _where(ttl: int, address: IPAddress | None) -> str:
    if ttl == 0:
        return "this host"
    return f"hop {ttl} ({address if address is not None else 'no reply'})"


def _between(change: PathChange) -> str:
    return (
        f"between {_where(change.from_ttl, change.from_address)} and "
        f"{_where(change.to_ttl, change.to_address)}"
    )


def _evidence(change: PathChange) -> tuple[Evidence, ...]:
    seen = Evidence(
        field=change.field,
        observed=change.after,
        expected=change.before,
        hop=change.to_ttl,
        probe=change.probe_id,
        note=f"quoted by {change.to_address}" if change.to_address else None,
    )
    if change.from_ttl == 0:
        return (seen,)
    intact = Evidence(
        field=change.field,
        observed=change.before,
        hop=change.from_ttl,
        note=f"still intact in the quote of {change.from_address}",
    )
    return (intact, seen)


def _facts(result: MiddleboxResult, change: PathChange) -> dict[str, int | str | None]:
    # Linux routers quote before their forward hook, so a rewriting router is often the
    # last hop that still quoted the old value; a box that is no router sits between.
    hop = str(change.to_ttl) if change.from_ttl == 0 else f"{change.from_ttl} or {change.to_ttl}"
    return {
        "family": result.family,
        "hop": hop,
        "from_hop": change.from_ttl,
        "address": str(change.to_address) if change.to_address is not None else None,
        "field": change.field,
    }


def middlebox_findings(
    result: MiddleboxResult, *, platform: str | None = None
) -> tuple[Finding, ...]:
    """The findings of one walk.

    Args:
        result: the engine's result.
        platform: add configuration snippets for this platform to the advice.

    Returns:
        Findings in path order: MSS rewrites, other option changes, sequence
        number rewrites, then a TCP proxy answering for the destination.

    Raises:
        UsageError: unknown platform (from calc.advice).
    """
    return tuple(_findings(result, platform))


def _findings(result: MiddleboxResult, platform: str | None) -> Iterator[Finding]:
    options: dict[tuple[int, int], list[PathChange]] = {}
    for change in result.changes:
        if change.field == MSS_FIELD:
            facts = _facts(result, change)
            facts.update(original_mss=_int(change.before), mss=_int(change.after))
            yield Finding(
                kind="mss-rewritten",
                severity=Severity.INFO,
                summary=f"MSS rewritten {change.before} -> {change.after} {_between(change)}",
                evidence=_evidence(change),
                advice=advise("mss-rewritten", facts, platform=platform),
                reference=_RFC_MSS,
                facts=facts,
            )
        elif change.field in OPTION_FIELDS:
            options.setdefault((change.from_ttl, change.to_ttl), []).append(change)
        elif change.field == SEQ_FIELD:
            facts = _facts(result, change)
            if isinstance(change.before, int) and isinstance(change.after, int):
                facts["offset"] = (change.after - change.before) % (1 << 32)
            yield Finding(
                kind="isn-rewritten",
                severity=Severity.INFO,
                summary=f"TCP sequence number rewritten {_between(change)}",
                evidence=_evidence(change),
                advice=advise("isn-rewritten", facts, platform=platform),
                reference=_RFC_ISN,
                facts=facts,
            )
    for changes in options.values():
        first = changes[0]
        names = ", ".join(f"{c.field} {c.before} -> {c.after}" for c in changes)
        facts = _facts(result, first)
        facts["option"] = first.field.removeprefix("tcp.options.") or "option list"
        yield Finding(
            kind="tcp-option-changed",
            severity=Severity.WARNING,
            summary=f"TCP options changed {_between(first)}: {names}",
            evidence=tuple(e for c in changes for e in _evidence(c)),
            advice=advise("tcp-option-changed", facts, platform=platform),
            reference=_RFC_OPTIONS,
            facts=facts,
        )
    term = result.terminated
    if term is not None:
        where = _where(term.ttl, term.address)
        facts = {"family": result.family, "hop": term.ttl, "address": str(term.address)}
        yield Finding(
            kind="isn-rewritten",
            severity=Severity.WARNING,
            summary=(
                f"a TCP proxy at {where} answers for {result.dst} port {result.dport}: "
                "it terminates the connection and opens its own, with its own ISN and options"
            ),
            evidence=(
                Evidence(
                    field="tcp.flags",
                    observed="SYN/ACK",
                    expected="time-exceeded",
                    hop=term.ttl,
                    probe=term.syn_ack_probe,
                    note=f"a SYN with TTL {term.ttl} was answered for {result.dst}",
                ),
                Evidence(
                    field="icmp.type",
                    observed="time-exceeded",
                    expected="echo-reply",
                    hop=term.ttl,
                    probe=term.probe_id,
                    note=f"an ICMP echo with TTL {term.ttl} expired at {term.address}",
                ),
            ),
            advice=advise("isn-rewritten", facts, platform=platform),
            reference=_RFC_ISN,
            facts=facts,
        )


def _int(value: int | str) -> int | None:
    return value if isinstance(value, int) else None
