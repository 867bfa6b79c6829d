"""The capture report as HTML: the files, the connections, the ICMP too-big messages, findings.

Layer: report/. Reads a `CaptureResult`'s typed fields, as `capture_text`
does, and returns escaped HTML (a fragment for a page the caller lays out);
the findings are rendered from their JSON form by `report.html`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtuscope.report.capture_json import format_name, linktype_name
from mtuscope.report.capture_text import _endpoint, _first_connections, _opt
from mtuscope.report.html import esc, findings_html, table, warnings_html
from mtuscope.report.serialize import findings_json

if TYPE_CHECKING:
    from mtuscope.jobs.analyze import CaptureResult

MAX_ROWS = 200
"""Connections and ICMP messages shown; the JSON report (`analyze --json`) has them all."""


def render_html(result: CaptureResult, *, names: dict[str, str] | None = None) -> str:
    """The report as an HTML fragment.

    Args:
        result: the analyze job's result.
        names: what to call each input path (an upload's own file name, not its temp path).
    """
    names = names or {}
    out = ['<section class="report capture">', '<h2>Captures</h2><ul class="captures">']
    for cap in result.captures:
        info = cap.info
        links = ", ".join(sorted({linktype_name(lt) for lt in info.linktypes})) or "-"
        out.append(
            f"<li><b>{esc(names.get(cap.path, cap.path))}</b>: {info.packets} frames, "
            f"{esc(format_name(info))}, link types {esc(links)}</li>"
        )
    out.append("</ul>")
    out.append("<h2>Findings</h2>")
    out.append(findings_html(findings_json(result.findings)))
    out.append(warnings_html(_renamed(w, names) for w in result.warnings))
    total = result.connection_count
    out.append(f"<h2>TCP connections ({total})</h2>")
    if total:
        rows = [
            (
                c.id,
                _endpoint(c.client, c.family),
                _opt(c.client.mss),
                c.client.max_segment,
                _endpoint(c.server, c.family),
                _opt(c.server.mss),
                c.server.max_segment,
                c.retransmissions,
                "+".join(c.encapsulation) or "-",
            )
            for c in _first_connections(result, MAX_ROWS)
        ]
        out.append(
            table(
                ("id", "client", "MSS", "max seg", "server", "MSS", "max seg", "retx", "encap"),
                rows,
                cls="connections",
            )
        )
        if total > MAX_ROWS:
            out.append(f"<p>… {total - MAX_ROWS} more connections (mtuscope analyze --json).</p>")
    icmps = [m for a in result.analyses for m in a.icmp_too_big]
    if icmps:
        out.append(f"<h2>ICMP too-big messages ({len(icmps)})</h2>")
        icmp_rows = [
            (m.frame, m.sender, m.mtu, m.ttl, m.initial_ttl_guess, _opt(m.connection))
            for m in icmps[:MAX_ROWS]
        ]
        out.append(
            table(
                ("frame", "sender", "MTU", "TTL", "initial TTL", "connection"),
                icmp_rows,
                cls="icmp",
            )
        )
    out.append("</section>")
    return "".join(out)


def _renamed(text: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        text = text.replace(path, name)
    return text
