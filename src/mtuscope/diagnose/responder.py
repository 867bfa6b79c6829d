"""Findings from the two-ended check (client and `mtuscope responder`), and its report body.

Layer: diagnose/. Pure functions over `active.responder_protocol.TwoEndedObservation`;
no I/O, no probing. Advice comes from calc/; the reverse path MTU goes through
the path rules (`diagnose_path`).

The evidence of the SYN comparison names `probe=0`: the one TCP connection the
client opened to the responder (the reverse search's probes are numbered from 1).

Kinds produced: mss-rewritten, tcp-option-changed, isn-rewritten (only when the
client captured its own SYN: the ISN is invisible without privilege), and the
path kinds of `diagnose_path` for the reverse direction. Address and port
translation (NAT) has no finding kind in DESIGN.md: it is reported in the body
(`two_ended.translated`).
"""

from __future__ import annotations

from typing import Any

from mtuscope.active.mss import MssObservation
from mtuscope.active.responder_protocol import Endpoint, SynView, TwoEndedObservation
from mtuscope.calc.advice import advise
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.wire.enums import TcpOptionKind

CONNECTION_PROBE = 0
"""The probe number evidence uses for the client's TCP connection to the responder."""
_UP = "client->server"
_DOWN = "server->client"
_REFERENCE = {
    "mss-rewritten": "RFC 9293 §3.7.1",
    "isn-rewritten": "RFC 9293 §3.4.1",
    "tcp-option-changed": "RFC 7323; RFC 2018",
}
_OPTION_FIELDS = (
    ("tcp.options.wscale.shift", "Window scale", "wscale"),
    ("tcp.options.sack_perm", "SACK-permitted", "sack_permitted"),
    ("tcp.options.timestamp", "Timestamps", "timestamps"),
)


def _finding(
    kind: str,
    severity: Severity,
    summary: str,
    evidence: tuple[Evidence, ...],
    facts: dict[str, int | str | None],
    platform: str | None,
) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        summary=summary,
        evidence=evidence,
        advice=advise(kind, facts, platform=platform),
        reference=_REFERENCE[kind],
        facts=facts,
    )


def _mss(
    direction: str,
    sent: int | None,
    seen: int | None,
    how: str,
    family: int,
    platform: str | None,
) -> Finding | None:
    if sent == seen or (sent is None and seen is None):
        return None
    where = "the responder" if direction == _UP else "the client"
    summary = (
        f"The {direction} MSS is rewritten in the path: "
        f"{sent if sent is not None else 'no MSS'} sent, "
        f"{seen if seen is not None else 'no MSS'} arrived at {where}"
    )
    evidence = (
        Evidence(
            field="tcp.options.mss",
            observed=seen,
            expected=sent,
            probe=CONNECTION_PROBE,
            note=f"{'SYN' if direction == _UP else 'SYN/ACK'}: sent value {how}",
        ),
    )
    facts: dict[str, int | str | None] = {
        "direction": direction,
        "original_mss": sent,
        "mss": seen,
        "family": family,
    }
    return _finding("mss-rewritten", Severity.INFO, summary, evidence, facts, platform)


def _names(kinds: tuple[int, ...]) -> str:
    shown = [str(TcpOptionKind(k)) for k in kinds if k not in (0, 1)]  # EOL and NOP pad
    return ",".join(shown) or "none"


def _options(direction: str, sent: SynView, seen: SynView, platform: str | None) -> list[Finding]:
    out: list[Finding] = []
    for field, name, attr in _OPTION_FIELDS:
        a, b = getattr(sent, attr), getattr(seen, attr)
        if a == b:
            continue
        how = "stripped" if b in (None, False) else "added" if a in (None, False) else "changed"
        shown_a, shown_b = _shown(a), _shown(b)
        out.append(_option(direction, field, name, how, shown_a, shown_b, sent.family, platform))
    others = [k for k in sent.option_kinds if k not in (0, 1, 2, 3, 4, 8)]
    others_seen = [k for k in seen.option_kinds if k not in (0, 1, 2, 3, 4, 8)]
    if sorted(others) != sorted(others_seen):
        a, b = _names(tuple(others)), _names(tuple(others_seen))
        how = "stripped" if len(others_seen) < len(others) else "added or changed"
        out.append(_option(direction, "tcp.options", "Options", how, a, b, sent.family, platform))
    return out


def _shown(value: object) -> str:
    if value is None or value is False:
        return "absent"
    if value is True:
        return "present"
    return str(value)


def _option(
    direction: str,
    field: str,
    name: str,
    how: str,
    sent: str,
    seen: str,
    family: int,
    platform: str | None,
) -> Finding:
    summary = (
        f"{name} in the {direction} handshake is {how} in the path: {sent} sent, {seen} arrived"
    )
    evidence = (
        Evidence(
            field=field,
            observed=seen,
            expected=sent,
            probe=CONNECTION_PROBE,
            note="SYN captured at the client, saved at the responder",
        ),
    )
    facts: dict[str, int | str | None] = {
        "direction": direction,
        "option": name,
        "a": sent,
        "b": seen,
        "family": family,
    }
    return _finding("tcp-option-changed", Severity.WARNING, summary, evidence, facts, platform)


def _isn(sent: SynView, seen: SynView, platform: str | None) -> Finding | None:
    if sent.seq == seen.seq:
        return None
    offset = (seen.seq - sent.seq) % 2**32
    summary = (
        f"The client's initial sequence number is rewritten in the path: "
        f"{sent.seq} sent, {seen.seq} arrived (offset {offset})"
    )
    evidence = (
        Evidence(
            field="tcp.seq_raw",
            observed=seen.seq,
            expected=sent.seq,
            probe=CONNECTION_PROBE,
            note="SYN captured at the client, saved at the responder",
        ),
    )
    facts: dict[str, int | str | None] = {
        "direction": _UP,
        "offset": offset,
        "family": sent.family,
    }
    return _finding("isn-rewritten", Severity.INFO, summary, evidence, facts, platform)


def diagnose_two_ended(
    obs: TwoEndedObservation, *, platform: str | None = None
) -> tuple[Finding, ...]:
    """The findings of one two-ended check.

    Args:
        obs: what the client and the responder saw of one connection.
        platform: a `calc.snippets` platform for configuration lines in the advice.

    Returns:
        Findings in a stable order: client->server MSS, options, ISN; server->client
        MSS; then the reverse path's findings (`diagnose_path`, with the MSS our SYN
        carried on arrival as the MSS the responder sends with).

    Raises:
        UsageError: `platform` is unknown.
    """
    family = obs.seen.family
    found: list[Finding | None] = []
    if obs.sent is not None:
        found.append(
            _mss(_UP, obs.sent.mss, obs.seen.mss, "captured at the client", family, platform)
        )
        found += _options(_UP, obs.sent, obs.seen, platform)
        found.append(_isn(obs.sent, obs.seen, platform))
    elif obs.announced_mss is not None:
        how = "from the client kernel's TCP_INFO"
        found.append(_mss(_UP, obs.announced_mss, obs.seen.mss, how, family, platform))
    if obs.synack_seen is not None and obs.server_mss is not None:
        how = "from the responder's TCP_INFO"
        found.append(_mss(_DOWN, obs.server_mss, obs.synack_seen.mss, how, family, platform))
    reverse = obs.reverse.result if obs.reverse is not None else None
    findings = [f for f in found if f is not None]
    if reverse is not None and reverse.family == family:
        # The responder sends toward us with the MSS our SYN carried on arrival.
        mss = None
        if obs.seen.mss is not None:
            mss = MssObservation(
                family=family,
                port=obs.target.port,
                client_announced=obs.seen.mss,
                probe_id=CONNECTION_PROBE,
            )
        reverse_obs = PathObservations(dst=reverse.dst, search=reverse, mss=mss)
        findings += diagnose_path(reverse_obs, platform=platform)
    return tuple(findings)


def translated(obs: TwoEndedObservation) -> dict[str, list[str]]:
    """Addresses and ports that differ between the client's and the responder's view (NAT).

    Returns:
        `{"client.address": [client view, responder view], ...}` for each difference.
    """
    out: dict[str, list[str]] = {}
    pairs: tuple[tuple[str, Endpoint, Endpoint], ...] = (
        ("client", obs.local, obs.server_peer),
        ("server", obs.target, obs.server_local),
    )
    for name, mine, theirs in pairs:
        if mine.address != theirs.address:
            out[f"{name}.address"] = [str(mine.address), str(theirs.address)]
        if mine.port != theirs.port:
            out[f"{name}.port"] = [str(mine.port), str(theirs.port)]
    return out


def changed(obs: TwoEndedObservation) -> dict[str, list[Any]]:
    sent, seen = obs.sent, obs.seen
    out: dict[str, list[Any]] = {}
    sent_mss = sent.mss if sent is not None else obs.announced_mss
    if sent_mss != seen.mss:
        out["tcp.options.mss"] = [sent_mss, seen.mss]
    if sent is not None:
        for field, _, attr in _OPTION_FIELDS:
            if getattr(sent, attr) != getattr(seen, attr):
                out[field] = [getattr(sent, attr), getattr(seen, attr)]
        if sent.seq != seen.seq:
            out["tcp.seq_raw"] = [sent.seq, seen.seq]
        if sent.window != seen.window:
            out["tcp.window_size_value"] = [sent.window, seen.window]
        if sent.option_kinds != seen.option_kinds:
            out["tcp.options"] = [_names(sent.option_kinds), _names(seen.option_kinds)]
    return out
