"""The `middlebox` report bodies (DESIGN.md "Contracts"), JSON-ready: the hop-by-hop
SYN probes and the two-ended check.

Layer: report/. A renderer: typed results in, plain dicts out; no I/O. Both
reports of kind "middlebox" come here (`body`): a TTL walk (jobs/middlebox.py)
and a two-ended check (jobs/two_ended.py); `two_ended_fields` gives what a
path body gains from a two-ended check (`probe --responder`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtuscope.active.end_check import EchoSeen
from mtuscope.active.middlebox_result import MiddleboxResult
from mtuscope.active.probe import IPAddress
from mtuscope.active.responder_protocol import endpoint_summary, reverse_summary
from mtuscope.active.syn_view import SynView, TwoEndedObservation
from mtuscope.diagnose.responder import changed, translated
from mtuscope.errors import UsageError
from mtuscope.report.path_json import path_body
from mtuscope.wire.enums import TcpOptionKind

if TYPE_CHECKING:
    from mtuscope.jobs.middlebox import MiddleboxReport
    from mtuscope.jobs.two_ended import TwoEndedReport


def body(result: MiddleboxReport | TwoEndedReport) -> dict[str, Any]:
    """The body of a "middlebox" report: a TTL walk's, or a two-ended check's.

    Args:
        result: the report of `jobs.middlebox.middlebox` or `jobs.two_ended.check_two_ended`.

    Returns:
        `middlebox_body` of the walk, or `two_ended_body` of the observation.
    """
    observation = getattr(result, "observation", None)
    if isinstance(observation, TwoEndedObservation):
        return two_ended_body(observation)
    walk = getattr(result, "walk", None)
    if not isinstance(walk, MiddleboxResult):
        raise UsageError(f"not a middlebox report: {type(result).__name__}")
    return middlebox_body(walk)


def two_ended_fields(two: TwoEndedReport) -> dict[str, Any]:
    """What a path body gains from a two-ended check (`probe --responder`).

    Update the path body with these: `two_ended` (the two views), `pmtu_reverse`
    (only when the responder measured it: it replaces the path's own) and
    `reverse_path` (the responder's search as a `path` body, or null).

    Args:
        two: the report of `jobs.two_ended.check_two_ended`.

    Returns:
        The fields, JSON-ready.
    """
    obs = two.observation
    out: dict[str, Any] = {"two_ended": _two_ended(obs)}
    pmtu_reverse = _pmtu_reverse(obs)
    if pmtu_reverse is not None:
        out["pmtu_reverse"] = pmtu_reverse
    out["reverse_path"] = _reverse_path(obs)
    return out


def _addr(address: IPAddress | None) -> str | None:
    return None if address is None else str(address)


def _echo(echo: EchoSeen | None) -> dict[str, Any] | None:
    if echo is None:
        return None
    return {
        "probe": echo.probe_id,
        "ttl": echo.probe_ttl,
        "reply": echo.kind.value if echo.kind is not None else None,
        "address": _addr(echo.address),
        "reply_ttl": echo.reply_ttl,
    }


def middlebox_body(result: MiddleboxResult) -> dict[str, Any]:
    """The `middlebox` body of the JSON report (DESIGN.md "Contracts").

    Args:
        result: the engine's result.

    Returns:
        `target`, `family`, `hops[]: {ttl, address, quote_bytes, changed: {field:
        [sent, seen]}, too_short, outcome, probe}`, `changes[]`, `destination`,
        `tcp_terminated_at`, `relay_checked`, `destination_echo` (the echo with TTL 255
        that tells how far the destination really is: {probe, ttl, reply, address,
        reply_ttl}, or null), `probes: {sent, answered, seconds}`, `stop_reason`.
    """
    hops = [
        {
            "ttl": hop.ttl,
            "address": _addr(hop.address),
            "quote_bytes": hop.quote_bytes,
            "changed": {name: list(values) for name, values in hop.changed_map.items()},
            "too_short": hop.too_short,
            "compared": list(hop.compared),
            "outcome": hop.outcome.value,
            "probe": hop.probe_id,
        }
        for hop in result.hops
    ]
    changes = [
        {
            "field": c.field,
            "before": c.before,
            "after": c.after,
            "from_hop": c.from_ttl,
            "from_address": _addr(c.from_address),
            "to_hop": c.to_ttl,
            "to_address": _addr(c.to_address),
            "probe": c.probe_id,
        }
        for c in result.changes
    ]
    response = result.response
    destination: dict[str, Any] = {"reached": result.reached}
    if response is not None:
        destination.update(
            ttl=response.ttl,
            address=_addr(response.address),
            syn_ack=response.syn_ack,
            reply_ttl=response.reply_ttl,
            mss=response.mss,
            options=dict(response.fields),
            probe=response.probe_id,
        )
    term = result.terminated
    return {
        "target": {"address": str(result.dst), "port": result.dport},
        "family": result.family,
        "hops": hops,
        "changes": changes,
        "destination": destination,
        "tcp_terminated_at": None
        if term is None
        else {"ttl": term.ttl, "address": _addr(term.address), "probe": term.probe_id},
        "relay_checked": result.relay_checked,
        "destination_echo": _echo(result.tcp_end.far if result.tcp_end is not None else None),
        "probes": {
            "sent": len(result.probes),
            "answered": result.answered,
            "seconds": result.seconds,
        },
        "stop_reason": result.stop_reason.value,
    }


def _syn(view: SynView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "src": endpoint_summary(view.src),
        "dst": endpoint_summary(view.dst),
        "seq": view.seq,
        "ttl": view.ttl,
        "window": view.window,
        "mss": view.mss,
        "wscale": view.wscale,
        "sack_permitted": view.sack_permitted,
        "timestamps": view.timestamps,
        "options": [str(TcpOptionKind(k)) for k in view.option_kinds],
    }


def two_ended_body(obs: TwoEndedObservation) -> dict[str, Any]:
    """The `middlebox` report body of a two-ended check, JSON-ready.

    A two-ended check is a middlebox report: it says what the path changed in
    the handshake. It has no TTL-limited probes, so `hops` is empty; what the
    two ends saw is in `two_ended`, and the reverse path MTU (responder toward
    client), when measured, in `pmtu_reverse` and `reverse_path` (a `path` body).

    Args:
        obs: the observation.

    Returns:
        `{hops: [], target, family, two_ended: {...}, pmtu_reverse, reverse_path}`.
    """
    rev = obs.reverse
    return {
        "hops": [],
        "target": endpoint_summary(obs.target),
        "family": obs.seen.family,
        "two_ended": _two_ended(obs),
        "pmtu_reverse": _pmtu_reverse(obs),
        "reverse": None if rev is None else reverse_summary(rev),
        "reverse_path": _reverse_path(obs),
    }


def _two_ended(obs: TwoEndedObservation) -> dict[str, Any]:
    ttl_sent = obs.sent.ttl if obs.sent is not None else None
    return {
        "client": endpoint_summary(obs.local),
        "server": endpoint_summary(obs.target),
        "server_saw": {
            "client": endpoint_summary(obs.server_peer),
            "server": endpoint_summary(obs.server_local),
        },
        "captured": obs.sent is not None,
        "syn": {
            "announced_mss": obs.announced_mss,
            "sent": _syn(obs.sent),
            "seen": _syn(obs.seen),
            "hops": None if ttl_sent is None else ttl_sent - obs.seen.ttl,
        },
        "syn_ack": {"sent_mss": obs.server_mss, "seen": _syn(obs.synack_seen)},
        "changed": changed(obs),
        "translated": translated(obs),
        "seconds": round(obs.seconds, 3),
    }


def _pmtu_reverse(obs: TwoEndedObservation) -> int | None:
    rev = obs.reverse
    return rev.result.path_mtu if rev is not None and rev.result else None


def _reverse_path(obs: TwoEndedObservation) -> dict[str, Any] | None:
    rev = obs.reverse
    return None if rev is None or rev.result is None else path_body(rev.result, None, None)
