"""The story of a two-point comparison, for people.

Layer: report/. Pure text from the JSON-ready body of a `compare` report
(`diagnose.compare.compare_body`); no I/O. The story goes in the order an
engineer reads two captures: the clocks, then per connection the handshake at
A, the handshake at B, what changed, what was lost, then what the ICMP
messages say, the connections seen at one point only, and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_STORIES = 5
"""Matched connections told in full; the JSON report has them all."""
MAX_LIST = 8
"""Items listed per section (lost segments, ICMP messages, one-sided connections)."""


def _ep(flow: Mapping[str, Any], side: str) -> str:
    addr = str(flow[side]) if side in flow else "?"
    port = flow.get(f"{side}_port", "?")
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _opt(value: Any, name: str) -> str:
    if value is None or value is False:
        return f"no {name}"
    if value is True:
        return name
    return f"{name} {value}"


def _hs_line(point: str, path: str, h: Mapping[str, Any]) -> list[str]:
    head = f"  Handshake at {point} ({path}): {_ep(h, 'client')} -> {_ep(h, 'server')}"
    lines = [head]
    for d, (label, frame) in enumerate(
        (("SYN", h.get("syn_frame")), ("SYN/ACK", h.get("synack_frame")))
    ):
        if frame is None:
            lines.append(f"    {label}: not seen")
            continue
        ttl = h["ttl"][d]
        lines.append(
            f"    {label} frame {frame}: {_opt(h['mss'][d], 'MSS')}, "
            f"{_opt(h['wscale'][d], 'wscale')}, {_opt(h['sack_perm'][d], 'SACK')}, "
            f"{_opt(h['timestamps'][d], 'timestamps')}, ISN {h['isn'][d]}, TTL {ttl}"
        )
    return lines


def _frames(frames: Sequence[int]) -> str:
    shown = ", ".join(str(f) for f in list(frames)[:MAX_LIST])
    return shown + (", ..." if len(frames) > MAX_LIST else "")


def _change_line(c: Mapping[str, Any]) -> str:
    kind, d = c["kind"], c["direction"]
    fa, fb = c["frames_a"], c["frames_b"]
    where = f"(A frame {_frames(fa)}, B frame {_frames(fb)})"
    if kind == "mss-rewritten":
        return f"    MSS {d}: {c['a']} at A, {c['b']} at B {where}"
    if kind == "isn-rewritten":
        return f"    ISN {d}: {c['a']} at A, {c['b']} at B, offset {c['delta']} (mod 2^32) {where}"
    if kind == "tcp-option-changed":
        return f"    {c['field']} {d} {c['note']}: {c['a']} at A, {c['b']} at B {where}"
    seen = str(c["seen_at"]).upper()
    other = "B" if seen == "A" else "A"
    size = c["a"] if seen == "A" else c["b"]
    frames = fa if seen == "A" else fb
    if kind == "lost-between-points":
        return (
            f"    LOST {d}: {size}-byte segment at {seen} frame {_frames(frames)} never "
            f"seen at {other} ({c['note']})"
        )
    return f"    offload {d}: {size}-byte segment at {seen} frame {_frames(frames)}: {c['note']}"


def _match_story(m: Mapping[str, Any], paths: tuple[str, str]) -> list[str]:
    ha, hb = m["handshake"]["a"], m["handshake"]["b"]
    side = m.get("client_side")
    near = f", {str(side).upper()} is nearer the client" if side else ""
    lines = [f"Connection A#{m['a']} = B#{m['b']}{near}:"]
    if m.get("nat"):
        lines.append(f"  translated between the points (NAT): {', '.join(m['nat'])}")
    lines += _hs_line("A", paths[0], ha)
    lines += _hs_line("B", paths[1], hb)
    changes = m["changes"]
    hs = [
        c for c in changes if c["kind"] in ("mss-rewritten", "isn-rewritten", "tcp-option-changed")
    ]
    segs = [c for c in changes if c not in hs]
    if hs:
        lines.append("  What changed in between:")
        lines += [_change_line(c) for c in hs]
    else:
        lines.append("  The handshake is the same at both points.")
    lost = m.get("lost", {})
    off = m.get("offloaded", {})
    if segs:
        totals = ", ".join(f"{n} lost {d}" for d, n in lost.items() if n) or "none lost"
        extra = ", ".join(f"{n} offloaded {d}" for d, n in off.items() if n)
        lines.append(f"  Segments: {totals}{'; ' + extra if extra else ''}:")
        lines += [_change_line(c) for c in segs[:MAX_LIST]]
        if len(segs) > MAX_LIST:
            lines.append(f"    ... and {len(segs) - MAX_LIST} more (see --json)")
    else:
        lines.append("  Every data segment seen at one point was seen at the other.")
    return lines


def compare_story(body: Mapping[str, Any]) -> list[str]:
    """The comparison told in order, one line per list item.

    Args:
        body: the body of a `compare` report (`diagnose.compare.compare_body`).

    Returns:
        Lines of text without newlines.
    """
    caps = body["captures"]
    paths = (str(caps["a"]["path"]), str(caps["b"]["path"]))
    matches = body["matches"]
    lines = [
        f"A = {paths[0]} ({caps['a']['connections']} connections), "
        f"B = {paths[1]} ({caps['b']['connections']} connections): {len(matches)} matched.",
    ]
    offset, transit = body.get("clock_offset_s"), body.get("transit_s")
    if body.get("clock_offset_method") != "none" and offset is not None:
        t = f", packets take {transit * 1e3:.3f} ms between the points" if transit else ""
        lines.append(
            f"B's clock is {offset:+.6f} s from A's (from {body['clock_offset_pairs']} "
            f"connection pair(s), {body['clock_offset_method']}){t}."
        )
    told = [m for m in matches if m["changes"]][:MAX_STORIES]
    quiet = sum(1 for m in matches if not m["changes"])
    for m in told:
        lines.append("")
        lines += _match_story(m, paths)
    rest = sum(1 for m in matches if m["changes"]) - len(told)
    if rest > 0:
        lines.append(f"... and {rest} more matched connections with changes (see --json).")
    if quiet:
        lines.append(f"{quiet} matched connection(s) look the same at both points.")
    icmp = body.get("icmp_too_big", [])
    if icmp:
        lines.append("")
        lines.append("ICMP too-big messages:")
        for i in icmp[:MAX_LIST]:
            conn = f" about connection {str(i['point']).upper()}#{i['connection']}"
            lines.append(
                f"  {str(i['point']).upper()} frame {i['frame']}: {i['sender']} says MTU "
                f"{i['mtu']} (TTL {i['ttl']}, started at {i['initial_ttl_guess']})"
                + (conn if i["connection"] is not None else "")
            )
        if len(icmp) > MAX_LIST:
            lines.append(f"  ... and {len(icmp) - MAX_LIST} more")
    for name, key in (("A", "only_a"), ("B", "only_b")):
        only = body.get(key, [])
        if only:
            lines.append("")
            lines.append(f"{len(only)} connection(s) seen only at {name}:")
            for f in only[:MAX_LIST]:
                c, s = f["client"], f["server"]
                lines.append(
                    f"  {name}#{f['id']} {_ep({'x': c['address'], 'x_port': c['port']}, 'x')}"
                    f" -> {_ep({'x': s['address'], 'x_port': s['port']}, 'x')}"
                    f" (frame {f['first_frame']})"
                )
    advice = body.get("advice", {})
    if advice:
        lines.append("")
        lines.append("What to do:")
        for kind, text in advice.items():
            lines.append(f"  - {kind}: {text}")
    return lines
