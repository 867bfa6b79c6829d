"""Evidence builders, one per source, the Wireshark field names the rules cite, and the
facts a middlebox walk's findings share.

Layer: diagnose/. Pure; no I/O. Field names are Wireshark's display-filter
names, so every claim can be checked by typing the field into Wireshark.
Captures cite frames; probes cite probe ids and hops; a middlebox walk cites
the hop that quoted a field; the two-ended check cites its one connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mtuscope.active.hop_trace import MtuDrop
from mtuscope.active.middlebox_result import MiddleboxResult, PathChange
from mtuscope.active.probe import ProbeRecord
from mtuscope.diagnose.findings import Evidence
from mtuscope.diagnose.observations import PathObservations
from mtuscope.passive.compare import Change, CompareResult
from mtuscope.passive.results import CaptureAnalysis, Connection, Endpoint

CONNECTION_PROBE = 0
"""The probe number two-ended evidence uses for the client's TCP connection to the
responder (the reverse search's probes are numbered from 1)."""

MAX_COMPARE_FRAMES = 6
"""Frames cited per capture point for one change between two capture points."""


def at_most(limit: int) -> str:
    """An upper bound as an expected value ("<= 1452"): the report says "at most 1452"."""
    return f"<= {limit}"


def ip_len_field(family: int) -> str:
    """Wireshark's name of the IP length field: IPv4 total length or IPv6 payload length."""
    return "ip.len" if family == 4 else "ipv6.plen"


def ttl_field(family: int) -> str:
    return "ip.ttl" if family == 4 else "ipv6.hlim"


def hop_word(family: int) -> str:
    """What the TTL is called in words: "TTL" (IPv4) or "hop limit" (IPv6)."""
    return "TTL" if family == 4 else "hop limit"


def icmp_mtu_field(family: int) -> str:
    return "icmp.mtu" if family == 4 else "icmpv6.mtu"


def directions(analysis: CaptureAnalysis) -> Iterator[tuple[Connection, str, Endpoint, Endpoint]]:
    """Capture: both directions of every notable connection, client first:
    (connection, the sender's role, sender, receiver)."""
    for conn in analysis.notable:
        for role, sender, receiver in conn.endpoints():
            yield conn, role, sender, receiver


def frame_evidence(
    capture: str,
    frame: int,
    field: str,
    observed: int | str | None,
    expected: int | str | None = None,
    note: str | None = None,
) -> Evidence:
    """Capture: one evidence item pointing at a capture frame (1-based)."""
    return Evidence(
        capture=capture,
        frame=frame,
        field=field,
        observed=observed,
        expected=expected,
        note=note,
    )


def mss_option_evidence(
    capture: str,
    receiver: Endpoint,
    *,
    expected: int | str | None = None,
    note: str | None = None,
) -> list[Evidence]:
    """Capture: the MSS option of `receiver`'s handshake ("absent" without one), or nothing
    when its handshake was not captured."""
    if receiver.handshake_frame is None:
        return []
    mss = receiver.mss if receiver.mss is not None else "absent"
    return [
        frame_evidence(
            capture, receiver.handshake_frame, "tcp.options.mss_val", mss, expected, note=note
        )
    ]


def change_evidence(result: CompareResult, change: Change) -> Iterator[Evidence]:
    """Two capture points: the frames of one change at A, then at B, each saying what it
    shows ("server->client SYN/ACK at A", "client->server segment seen at B only")."""
    for point, cap, frames, value in (
        ("A", result.capture_a, change.frames_a, change.a),
        ("B", result.capture_b, change.frames_b, change.b),
    ):
        pieces = change.kind == "offload-artifact" and point != (change.seen_at or "").upper()
        for f in frames[:MAX_COMPARE_FRAMES]:
            yield Evidence(
                field=change.field,
                # At the other point of an offload the value is a count of pieces, not a
                # length: each piece is cited by its frame, the note says what it is.
                observed=None if pieces else value if isinstance(value, int | str) else "absent",
                capture=cap,
                frame=f,
                note=_change_note(change, point),
            )


def _change_note(change: Change, point: str) -> str:
    d = change.direction
    if change.kind == "lost-between-points":
        other = "B" if point == "A" else "A"
        return f"{d} segment never seen at {other} ({change.note})"
    if change.kind == "offload-artifact":
        seen = (change.seen_at or "").upper()
        if point == seen:
            return f"{d} segment at {point} ({change.note})"
        size = change.a if seen == "A" else change.b
        return f"{d}: one of {change.delta} segments that {seen} saw as one {size}-byte segment"
    packet = "SYN" if d.startswith("client") else "SYN/ACK"
    how = f", option {change.note}" if change.note else ""
    return f"{d} {packet} at {point}{how}"


def probe_evidence(
    record: ProbeRecord, *, note: str, expected: int | str | None = None
) -> Evidence:
    """Path: the size of one probe."""
    return Evidence(
        field="probe.size",
        observed=record.probe.size,
        expected=expected,
        probe=record.probe.id,
        note=note,
    )


def drop_evidence(obs: PathObservations, drop: MtuDrop) -> tuple[Evidence, ...]:
    """Path: where a trace's MTU drops: the MTU up to the hop before, the probes that did
    not get through, and the MTU after."""
    sizes = {r.probe.id: r.probe.size for r in obs.records}
    first = "interface MTU" if drop.after_hop == 0 else "largest size to reach this hop"
    return (
        Evidence(
            field="hop.mtu",
            observed=drop.from_mtu,
            hop=drop.after_hop,
            probe=drop.reached_probe,
            note=first,
        ),
        *(
            Evidence(
                field="probe.size",
                observed=sizes.get(pid),
                expected=f"<= {drop.to_mtu}",
                hop=drop.at_hop,
                probe=pid,
                note="did not get to this hop",
            )
            for pid in drop.refused_probes
        ),
        Evidence(
            field="hop.mtu",
            observed=drop.to_mtu,
            hop=drop.at_hop,
            note=f"down from {drop.from_mtu}",
        ),
    )


MssMeasured = tuple[int | None, str, tuple[Evidence, ...]]
"""An MSS measured toward a path: its value, "effective" or "announced", and its evidence
(none when no probe or connection can be cited)."""


def path_mss(obs: PathObservations) -> MssMeasured | None:
    """Path: the MSS in force toward the destination (TCP_INFO's effective MSS, else the
    announced one), or None when no MSS was measured."""
    mss = obs.mss
    if mss is None:
        return None
    value = mss.effective if mss.effective is not None else mss.combined
    which = "effective" if mss.effective is not None else "announced"
    if mss.probe_id is None or value is None:
        return value, which, ()
    field = "tcp_info.snd_mss" if which == "effective" else "tcp.options.mss"
    return (
        value,
        which,
        (Evidence(field=field, observed=value, probe=mss.probe_id, note=f"{which} MSS"),),
    )


def quote_evidence(change: PathChange) -> tuple[Evidence, ...]:
    """Middlebox: the hop that last quoted a field intact (unless the sender), and the first
    that quoted it changed."""
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


def quote_facts(result: MiddleboxResult, change: PathChange) -> dict[str, int | str | None]:
    """Middlebox: where a field changed, as facts."""
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


def connection_evidence(field: str, seen: Any, sent: Any, note: str) -> tuple[Evidence, ...]:
    """Two-ended: what arrived of a field of the one connection, against what was sent."""
    return (Evidence(field=field, observed=seen, expected=sent, probe=CONNECTION_PROBE, note=note),)
