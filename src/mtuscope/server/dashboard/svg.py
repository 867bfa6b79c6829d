"""Server-rendered SVG: the merged path graph, and the history's line charts.

Layer: server/ (pure: a graph or series in, SVG text out). No script and
nothing fetched: the browser draws what it is sent. Element ids and classes are
stable so that tests and users' stylesheets can find things: every link is a
`<g class="link">` (`drop`, `blackhole`, `unreached` added as they apply) with
`data-from`, `data-to` and `data-mtu`, holding its `<text class="mtu-label">`;
nodes are `<g class="node agent|hop|unknown|target">` with `data-key`; a clamp
is a `<g class="clamp">` on its node; chart series are `<g class="series">`
and events `<g class="event" data-kind=...>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from mtuscope.server.dashboard.graph import AGENT, TARGET, UNKNOWN, Link, Node, PathGraph

COL_W = 250
ROW_H = 130
LEFT = 80
TOP = 70
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


def color(i: int) -> str:
    """The colour of series (agent) number `i`."""
    return PALETTE[i % len(PALETTE)]


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def _positions(graph: PathGraph) -> tuple[dict[str, tuple[float, float]], int, int]:
    counts: dict[int, int] = {}
    for n in graph.nodes.values():
        counts[n.layer] = max(counts.get(n.layer, 0), n.order + 1)
    rows = max(counts.values(), default=1)
    pos: dict[str, tuple[float, float]] = {}
    for n in graph.nodes.values():
        offset = (rows - counts[n.layer]) / 2
        pos[n.key] = (float(LEFT + n.layer * COL_W), TOP + (n.order + offset) * ROW_H)
    width = LEFT * 2 + max((n.layer for n in graph.nodes.values()), default=0) * COL_W + 40
    height = TOP + rows * ROW_H
    return pos, int(width), int(height)


def _link_text(link: Link) -> str:
    if not link.mtus:
        return "MTU ?"
    return " / ".join(str(m) for m in sorted(link.mtus, reverse=True))


def _link_title(link: Link) -> str:
    """Who goes through the link, and which MTU each saw when they disagree."""
    if len(link.mtus) <= 1:
        return ", ".join(sorted(link.agents))
    return "; ".join(
        f"{m}: {', '.join(sorted(link.seen[m]))}" for m in sorted(link.mtus, reverse=True)
    )


def path_svg(graph: PathGraph) -> str:
    """The graph as one `<svg>` element (nodes keyed by address, links labelled with MTUs)."""
    pos, width, height = _positions(graph)
    index = {key: i for i, key in enumerate(graph.nodes)}
    radius = {k: 44 if n.kind in (AGENT, TARGET) else 18 for k, n in graph.nodes.items()}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="path-graph" class="path-graph" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="path graph">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" '
        'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        '<marker id="arrow-drop" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="14" '
        'markerHeight="14" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>'
        "</defs>",
    ]
    for i, link in enumerate(graph.links.values()):
        out.append(_link_svg(i, link, pos, radius))
    for key, node in graph.nodes.items():
        out.append(_node_svg(index[key], node, pos[key]))
    out.append("</svg>")
    return "".join(out)


def _link_svg(
    i: int, link: Link, pos: dict[str, tuple[float, float]], radius: dict[str, int]
) -> str:
    (x1, y1), (x2, y2) = pos[link.source], pos[link.target]
    x1, x2 = x1 + radius[link.source], x2 - radius[link.target] - 2  # clear of the nodes
    classes = ["link"]
    if link.drop:
        classes.append("drop")
    if link.silent:
        classes.append("blackhole")
    if not link.reached:
        classes.append("unreached")
    mtu = min(link.mtus) if link.mtus else ""
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    stroke = "#c0392b" if link.drop else "#555"
    width = 5 if link.drop else 2
    dash = ' stroke-dasharray="9 6"' if link.silent or not link.reached else ""
    marker = "arrow-drop" if link.drop else "arrow"
    who = _link_title(link)
    parts = [
        f'<g class="{" ".join(classes)}" id="link-{i}" data-from="{_a(link.source)}" '
        f'data-to="{_a(link.target)}" data-mtu="{mtu}">',
        f"<title>{_a(who)}</title>",
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{stroke}" '
        f'stroke-width="{width}"{dash} marker-end="url(#{marker})"/>',
        f'<text class="mtu-label" id="link-{i}-mtu" x="{mx:.0f}" y="{my - 10:.0f}" '
        f'text-anchor="middle">{_a(_link_text(link))}</text>',
    ]
    # Extra labels go on the outer side of a sloped link, away from its neighbours.
    step = -16 if y2 <= y1 else 16
    below = my - 28 if y2 <= y1 else my + 20
    if link.drop:
        drop = f"drop {link.from_mtu} \u2192 {link.to_mtu}"
        parts.append(
            f'<text class="drop-label" x="{mx:.0f}" y="{below:.0f}" '
            f'text-anchor="middle">{_a(drop)}</text>'
        )
        below += step
        if link.encapsulations:
            encap = "likely " + link.encapsulations[0]
            if len(link.encapsulations) > 1:
                encap += f" (or {len(link.encapsulations) - 1} more)"
            parts.append(
                f'<text class="encap" x="{mx:.0f}" y="{below:.0f}" text-anchor="middle">'
                f"<title>{_a(' or '.join(link.encapsulations))}</title>{_a(encap)}</text>"
            )
            below += step
    if link.silent:
        cx, cy = x1 + (x2 - x1) * 0.7, y1 + (y2 - y1) * 0.7
        parts.append(
            f'<path class="blackhole-mark" d="M{cx - 7:.0f},{cy - 7:.0f} L{cx + 7:.0f},'
            f'{cy + 7:.0f} M{cx + 7:.0f},{cy - 7:.0f} L{cx - 7:.0f},{cy + 7:.0f}" '
            f'stroke="#000" stroke-width="3"/>'
        )
        parts.append(
            f'<text class="blackhole-label" x="{mx:.0f}" y="{below:.0f}" '
            f'text-anchor="middle">silent drop: no too-big message</text>'
        )
    if not link.reached:
        parts.append(
            f'<text class="unreached-label" x="{mx:.0f}" y="{below:.0f}" '
            f'text-anchor="middle">not traced</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _node_svg(i: int, node: Node, at: tuple[float, float]) -> str:
    x, y = at
    who = ", ".join(sorted(node.agents))
    parts = [
        f'<g class="node {node.kind}" id="node-{i}" data-key="{_a(node.key)}">',
        f"<title>{_a(node.label)} ({_a(who)})</title>",
    ]
    if node.kind in (AGENT, TARGET):
        fill = "#eef4fb" if node.kind == AGENT else "#eefbf0"
        parts.append(
            f'<rect x="{x - 42:.0f}" y="{y - 18:.0f}" width="84" height="36" rx="8" '
            f'fill="{fill}" stroke="#333" stroke-width="{2 if node.kind == TARGET else 1}"/>'
        )
        text = node.label if len(node.label) <= 13 else node.label[:12] + "\u2026"
        parts.append(
            f'<text class="node-label" x="{x:.0f}" y="{y + 5:.0f}" '
            f'text-anchor="middle">{_a(text)}</text>'
        )
        if node.kind == TARGET and len(node.label) > 13:
            parts.append(
                f'<text class="node-address" x="{x:.0f}" y="{y + 34:.0f}" '
                f'text-anchor="middle">{_a(node.label)}</text>'
            )
    else:
        dash = ' stroke-dasharray="4 3"' if node.kind == UNKNOWN else ""
        parts.append(
            f'<circle cx="{x:.0f}" cy="{y:.0f}" r="16" fill="#fff" stroke="#333" '
            f'stroke-width="1.5"{dash}/>'
        )
        if node.kind == UNKNOWN:
            parts.append(
                f'<text class="node-label" x="{x:.0f}" y="{y + 6:.0f}" '
                f'text-anchor="middle">*</text>'
            )
        else:
            parts.append(
                f'<text class="node-address" x="{x:.0f}" y="{y + 34:.0f}" '
                f'text-anchor="middle">{_a(node.label)}</text>'
            )
    for j, c in enumerate(node.clamps):
        text = f"MSS {c.before if c.before is not None else '?'} \u2192 {c.after}"
        if c.direction:
            text += f" ({c.direction})"
        cy = y - 32 - j * 22
        parts.append(
            f'<g class="clamp" data-before="{c.before}" data-after="{c.after}">'
            f'<rect x="{x - 80:.0f}" y="{cy - 14:.0f}" width="160" height="19" rx="4" '
            f'fill="#fff3e0" stroke="#e67e22"/>'
            f'<text class="clamp-label" x="{x:.0f}" y="{cy:.0f}" '
            f'text-anchor="middle">{_a(text)}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: an agent's values over time (None: a gap)."""

    name: str
    points: Sequence[tuple[int, int | None]]
    """(time in ms, value) in time order."""
    lows: Sequence[int | None] = ()
    """Per point, the hour's minimum when the points are hourly (a band to the last value)."""
    highs: Sequence[int | None] = ()


@dataclass(frozen=True, slots=True)
class Mark:
    """An event drawn across a chart."""

    at_ms: int
    kind: str
    summary: str


def _tick(ms: int, span_ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%m-%d %H:%M" if span_ms > 86_400_000 else "%H:%M")


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    marks: Sequence[Mark],
    *,
    start_ms: int,
    end_ms: int,
    width: int = 900,
    height: int = 240,
) -> str:
    """A line chart of bytes over time, one line per series, events as vertical marks."""
    left, right, top, bottom = 60, 20, 28, 36
    span = max(1, end_ms - start_ms)
    values = [v for s in series for _, v in s.points if v is not None]
    values += [v for s in series for v in (*s.lows, *s.highs) if v is not None]
    lo, hi = (float(min(values)), float(max(values))) if values else (1200.0, 1500.0)
    if hi - lo < 40:
        lo, hi = lo - 20, hi + 20
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad

    def x(ms: int) -> float:
        return left + (ms - start_ms) / span * (width - left - right)

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_a(chart_id)}" class="chart" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_a(title)}">',
        f'<text class="chart-title" x="{left}" y="16">{_a(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.0f}" text-anchor="end">'
            f"{v:.0f}</text>"
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.0f}" y2="{y(v):.0f}" '
            f'stroke="#eee"/>'
        )
    for k in range(6):
        ms = start_ms + span * k // 5
        out.append(
            f'<text class="axis" x="{x(ms):.0f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{_tick(ms, span)}</text>'
        )
    for m in marks:
        mx = x(m.at_ms)
        out.append(
            f'<g class="event" data-kind="{_a(m.kind)}"><title>{_a(m.summary)}</title>'
            f'<line x1="{mx:.0f}" x2="{mx:.0f}" y1="{top}" y2="{height - bottom}" '
            f'stroke="#e67e22" stroke-width="2" stroke-dasharray="3 3"/>'
            f'<circle cx="{mx:.0f}" cy="{top + 6}" r="5" fill="#e67e22"/></g>'
        )
    for i, s in enumerate(series):
        c = color(i)
        out.append(f'<g class="series" data-name="{_a(s.name)}"><title>{_a(s.name)}</title>')
        for j, (ms, _v) in enumerate(s.points):
            low = s.lows[j] if j < len(s.lows) else None
            high = s.highs[j] if j < len(s.highs) else None
            if low is not None and high is not None and low != high:
                out.append(
                    f'<line class="band" x1="{x(ms):.1f}" x2="{x(ms):.1f}" y1="{y(high):.1f}" '
                    f'y2="{y(low):.1f}" stroke="{c}" stroke-opacity="0.35" stroke-width="3"/>'
                )
        for run in _runs(s.points):
            coords = " ".join(f"{x(ms):.1f},{y(v):.1f}" for ms, v in run)
            if len(run) == 1:
                ms, v = run[0]
                out.append(f'<circle cx="{x(ms):.1f}" cy="{y(v):.1f}" r="2.5" fill="{c}"/>')
            else:
                out.append(
                    f'<polyline points="{coords}" fill="none" stroke="{c}" stroke-width="2"/>'
                )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _runs(points: Sequence[tuple[int, int | None]]) -> list[list[tuple[int, int]]]:
    """The stretches of points without a gap."""
    runs: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for ms, v in points:
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((ms, v))
    if current:
        runs.append(current)
    return runs
