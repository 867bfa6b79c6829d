"""Diagnose the two-ended check (client and `mtuscope responder`), and its NAT/changes view.

Layer: diagnose/. Pure functions over `active.syn_view.TwoEndedObservation`;
no I/O, no probing. The checks are listed in `mtuscope.diagnose.rules.TWO_ENDED_CHECKS`
and run per direction; the reverse path MTU goes through the path checks
(`diagnose_path`).

The evidence of the SYN comparison names `probe=0`: the one TCP connection the
client opened to the responder (the reverse search's probes are numbered from 1).
Address and port translation (NAT) is `address-translated`, and a box that opened
a connection of its own toward the responder `tcp-proxy`; the differences are in
the body as well (`two_ended.translated`).
"""

from __future__ import annotations

from typing import Any

from mtuscope.active.mss import MssObservation
from mtuscope.active.syn_view import Endpoint, TwoEndedObservation
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.diagnose.rules import TWO_ENDED_CHECKS
from mtuscope.diagnose.rules.evidence import CONNECTION_PROBE
from mtuscope.diagnose.rules.tcp_option_changed import SYN_OPTIONS, option_names
from mtuscope.passive.compare import DIRECTIONS

__all__ = ["changed", "diagnose_two_ended", "translated"]


def diagnose_two_ended(
    obs: TwoEndedObservation, *, platform: str | None = None
) -> tuple[Finding, ...]:
    """The findings of one two-ended check.

    Args:
        obs: what the client and the responder saw of one connection.
        platform: a `calc.snippets` platform for configuration lines in the advice.

    Returns:
        Findings in a stable order: client->server MSS, options, ISN, TCP proxy, NAT;
        server->client
        MSS; then the reverse path's findings (`diagnose_path`, with the MSS our SYN
        carried on arrival as the MSS the responder sends with).

    Raises:
        UsageError: `platform` is unknown.
    """
    family = obs.seen.family
    findings = [
        f
        for direction in DIRECTIONS
        for check in TWO_ENDED_CHECKS
        for f in check(obs, direction, platform=platform)
    ]
    reverse = obs.reverse.result if obs.reverse is not None else None
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
        path = PathObservations(dst=reverse.dst, port=obs.target.port, search=reverse, mss=mss)
        findings += diagnose_path(path, platform=platform)
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
    """The SYN fields that differ between what the client sent and what arrived.

    Returns:
        `{"tcp.options.mss": [sent, seen], ...}` for each difference.
    """
    sent, seen = obs.sent, obs.seen
    out: dict[str, list[Any]] = {}
    sent_mss = sent.mss if sent is not None else obs.announced_mss
    if sent_mss != seen.mss:
        out["tcp.options.mss"] = [sent_mss, seen.mss]
    if sent is not None:
        for field, _, attr in SYN_OPTIONS:
            if getattr(sent, attr) != getattr(seen, attr):
                out[field] = [getattr(sent, attr), getattr(seen, attr)]
        if sent.seq != seen.seq:
            out["tcp.seq_raw"] = [sent.seq, seen.seq]
        if sent.window != seen.window:
            out["tcp.window_size_value"] = [sent.window, seen.window]
        if sent.option_kinds != seen.option_kinds:
            out["tcp.options"] = [option_names(sent.option_kinds), option_names(seen.option_kinds)]
    return out
