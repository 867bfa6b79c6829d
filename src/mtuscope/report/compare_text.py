"""The story of a two-point comparison, for people.

Layer: report/. Pure text from a `CompareReport`'s typed fields; no I/O beyond
the console it is handed. The story goes in the order an engineer reads two
captures: the clocks, then per connection the handshake at A, the handshake
at B, what changed, what was lost, then what the ICMP messages say, the
connections seen at one point only; the findings and their advice follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from mtuscope.passive.compare import DIRECTIONS
from mtuscope.report.wireshark_filter import compare_filters

if TYPE_CHECKING:
    from collections.abc import Callable

    from mtuscope.diagnose.findings import Finding
    from mtuscope.jobs.compare import CompareReport
    from mtuscope.passive.compare import Change, ConnectionComparison, Handshake

MAX_STORIES = 5
"""Matched connections told in full; the JSON report has them all."""
MAX_LIST = 8
"""Items listed per section (lost segments, ICMP messages, one-sided connections)."""
HANDSHAKE_KINDS = ("mss-rewritten", "isn-rewritten", "tcp-option-changed")


def finding_lines(result: CompareReport) -> Callable[[Finding], list[str]]:
    """The lines under each finding: one Wireshark display filter per capture it cites
    (frame numbers are each file's own)."""
    return lambda f: [f"wireshark ({cap}): {text}" for cap, text in compare_filters(f).items()]


def render(result: CompareReport, console: Console) -> None:
    """Print the comparison's story, line by line."""
    for line in compare_story(result):
        console.print(line, highlight=False, markup=False)


def _ep(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _opt(value: int | bool | None, name: str) -> str:
    if value is None or value is False:
        return f"no {name}"
    if value is True:
        return name
    return f"{name} {value}"


def _hs_line(point: str, path: str, h: Handshake) -> list[str]:
    head = (
        f"  Handshake at {point} ({path}): {_ep(h.client, h.client_port)} -> "
        f"{_ep(h.server, h.server_port)}"
    )
    lines = [head]
    hops = "TTL" if h.family == 4 else "hop limit"
    for d, (label, frame) in enumerate((("SYN", h.syn_frame), ("SYN/ACK", h.synack_frame))):
        if frame is None:
            lines.append(f"    {label}: not seen")
            continue
        lines.append(
            f"    {label} frame {frame}: {_opt(h.mss[d], 'MSS')}, "
            f"{_opt(h.wscale[d], 'wscale')}, {_opt(h.sack_perm[d], 'SACK')}, "
            f"{_opt(h.timestamps[d], 'timestamps')}, ISN {h.isn[d]}, {hops} {h.ttl[d]}"
        )
    return lines


def _frames(frames: Sequence[int]) -> str:
    shown = ", ".join(str(f) for f in list(frames)[:MAX_LIST])
    return shown + (", ..." if len(frames) > MAX_LIST else "")


def _change_line(c: Change) -> str:
    kind, d = c.kind, c.direction
    fa, fb = c.frames_a, c.frames_b
    where = f"(A frame {_frames(fa)}, B frame {_frames(fb)})"
    if kind == "mss-rewritten":
        return f"    MSS {d}: {c.a} at A, {c.b} at B {where}"
    if kind == "isn-rewritten":
        return f"    ISN {d}: {c.a} at A, {c.b} at B, offset {c.delta} (mod 2^32) {where}"
    if kind == "tcp-option-changed":
        return f"    {c.field} {d} {c.note}: {c.a} at A, {c.b} at B {where}"
    seen = str(c.seen_at).upper()
    other = "B" if seen == "A" else "A"
    size = c.a if seen == "A" else c.b
    frames = fa if seen == "A" else fb
    if kind == "lost-between-points":
        return (
            f"    LOST {d}: {size}-byte segment at {seen} frame {_frames(frames)} never "
            f"seen at {other} ({c.note})"
        )
    return f"    offload {d}: {size}-byte segment at {seen} frame {_frames(frames)}: {c.note}"


WEAK_SCORE = 6.0
"""A pair scoring below this agrees on no 4-tuple and no IP id (`compare_match` scores)."""


def weak_match(m: ConnectionComparison) -> bool:
    """Whether a pair rests on its shape alone: no 4-tuple, IP id or ISN agrees, only the
    bytes each way (and the server port) do. Two unrelated transfers of the same size
    look like this; so does a TCP proxy."""
    isn = {c.direction for c in m.changes if c.kind == "isn-rewritten"}
    return m.score < WEAK_SCORE and bool(m.nat) and len(isn) == 2


def _match_story(m: ConnectionComparison, paths: tuple[str, str]) -> list[str]:
    near = f", {m.client_side.upper()} is nearer the client" if m.client_side else ""
    lines = [f"Connection A#{m.a.id} = B#{m.b.id}{near}:"]
    if weak_match(m):
        lines.append(
            "  (matched only by the bytes each way: no address, port, IP id or sequence "
            "number agrees. A TCP proxy looks like this; so do two unrelated transfers of "
            "the same size. If these captures are not of the same traffic, ignore this pair.)"
        )
    if m.nat:
        lines.append(f"  translated between the points (NAT): {', '.join(m.nat)}")
    lines += _hs_line("A", paths[0], m.a)
    lines += _hs_line("B", paths[1], m.b)
    hs = [c for c in m.changes if c.kind in HANDSHAKE_KINDS]
    segs = [c for c in m.changes if c.kind not in HANDSHAKE_KINDS]
    if hs:
        lines.append("  What changed in between:")
        lines += [_change_line(c) for c in hs]
    else:
        lines.append("  The handshake is the same at both points.")
    if segs:
        lost = ", ".join(f"{n} lost {d}" for d, n in zip(DIRECTIONS, m.lost, strict=True) if n)
        extra = ", ".join(
            f"{n} offloaded {d}" for d, n in zip(DIRECTIONS, m.offloaded, strict=True) if n
        )
        lines.append(f"  Segments: {lost or 'none lost'}{'; ' + extra if extra else ''}:")
        lines += [_change_line(c) for c in segs[:MAX_LIST]]
        if len(segs) > MAX_LIST:
            lines.append(f"    ... and {len(segs) - MAX_LIST} more (see --json)")
    else:
        lines.append("  Every data segment seen at one point was seen at the other.")
    return lines


def compare_story(result: CompareReport) -> list[str]:
    """The comparison told in order, one line per list item.

    Args:
        result: the compare job's result.

    Returns:
        Lines of text without newlines.
    """
    r = result.comparison
    paths = (r.capture_a, r.capture_b)
    lines = [
        f"A = {paths[0]} ({r.connections[0]} connections), "
        f"B = {paths[1]} ({r.connections[1]} connections): {len(r.matches)} matched.",
    ]
    if not r.matches:
        lines.append(
            "No connection was seen at both points: these captures do not look like the same "
            "traffic, so nothing can be said about what happened between them (no clock "
            "offset, no changes, no losses)."
        )
    o = r.offset
    if o.method != "none":
        transit = None if o.transit_ns is None else o.transit_ns / 1e9
        t = f", packets take {transit * 1e3:.3f} ms between the points" if transit else ""
        pairs = f"{o.pairs} connection pair{'s' if o.pairs != 1 else ''}, {o.method}"
        if r.matches and all(weak_match(m) for m in r.matches):
            pairs += "; matched by the bytes each way only"
        lines.append(f"B's clock is {o.offset_ns / 1e9:+.6f} s from A's (from {pairs}){t}.")
    changed = [m for m in r.matches if m.changes]
    for m in changed[:MAX_STORIES]:
        lines.append("")
        lines += _match_story(m, paths)
    if len(changed) > MAX_STORIES:
        rest = len(changed) - MAX_STORIES
        lines.append(f"... and {rest} more matched connections with changes (see --json).")
    quiet = len(r.matches) - len(changed)
    if quiet:
        lines.append(f"{quiet} matched connection(s) look the same at both points.")
    if r.icmp:
        lines.append("")
        lines.append("ICMP too-big messages:")
        for i in r.icmp[:MAX_LIST]:
            point = i.point.upper()
            conn = f" about connection {point}#{i.connection}"
            hops = "hop limit" if ":" in i.sender else "TTL"
            lines.append(
                f"  {point} frame {i.frame}: {i.sender} says MTU "
                f"{i.mtu} ({hops} {i.ttl}, started at {i.initial_ttl_guess})"
                + (conn if i.connection is not None else "")
            )
        if len(r.icmp) > MAX_LIST:
            lines.append(f"  ... and {len(r.icmp) - MAX_LIST} more")
    for name, only in (("A", r.only_a), ("B", r.only_b)):
        if only:
            lines.append("")
            lines.append(f"{len(only)} connection(s) seen only at {name}:")
            for h in only[:MAX_LIST]:
                lines.append(
                    f"  {name}#{h.id} {_ep(h.client, h.client_port)}"
                    f" -> {_ep(h.server, h.server_port)} (frame {h.first_frame})"
                )
    # What to do is the findings block's (`report.text.render_findings`), printed next:
    # each advice once there, not a second time here.
    return lines
