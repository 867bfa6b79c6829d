"""The targets overview's table, written straight to HTML.

Layer: server/ (pure: rows in, escaped HTML out). Ten thousand cells (1,000
targets x 10 agents) is more than a template engine renders in the page's
budget, so the rows are joined from f-strings here; every value that is not a
number of ours goes through `html.escape`. Rows keep the hooks tests use:
`tr.cell[data-target][data-agent]`, `td.pmtu`, `span.status.<status>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from mtuscope.server.dashboard.queries import Cell, TargetRow

HEAD = (
    '<table class="overview" id="overview"><thead><tr><th>target</th><th>agent</th>'
    "<th>PMTU</th><th>reverse</th>"
    '<th title="the MSS the target announced, as it arrived">MSS from target</th>'
    '<th title="the MSS our segments toward the target carry">MSS to target</th>'
    "<th>status</th><th>newest result</th><th>last contact</th></tr></thead><tbody>"
)


def ago(ms: int | None, now_ms: int) -> str:
    """How long ago, for people ("12 s ago", "3 min ago", "never")."""
    if ms is None:
        return "never"
    s = max(0, (now_ms - ms) // 1000)
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def _num(value: int | None) -> str:
    return "–" if value is None else str(value)


def _pmtu(c: Cell) -> str:
    if c.pmtu is not None:
        text = str(c.pmtu)
    elif c.bounds is not None:
        lo, hi = c.bounds
        text = (
            f'<span class="bounds" title="search cut short">'
            f"{lo if lo is not None else '?'}–{hi if hi is not None else '?'}</span>"
        )
    else:
        text = "–"
    if c.flows_pmtu:
        flows = " / ".join(str(m) for m in c.flows_pmtu)
        text += f'<span class="ecmp" title="the flows differ (ECMP)">flows: {flows}</span>'
    return text


def _cell(c: Cell, now_ms: int, agent: str, contact: str) -> str:
    status = "no result yet" if c.status == "none" else c.status
    return (
        f'<td>{agent}</td><td class="pmtu">{_pmtu(c)}</td>'
        f"<td>{_num(c.pmtu_reverse)}</td><td>{_num(c.mss_announced)}</td>"
        f"<td>{_num(c.mss_effective)}</td>"
        f'<td><span class="status {c.status}">{status}</span></td>'
        f"<td>{ago(c.at_ms, now_ms)}</td><td>{contact}</td>"
    )


def _target(t: TargetRow) -> str:
    host = escape(t.host) + (f":{t.port}" if t.port else "")
    disabled = ", disabled" if not t.enabled else ""
    return (
        f'<a href="/targets/{t.id}">{host}</a><span class="kind">{escape(t.kind)}, every '
        f'{t.interval_s} s{disabled}</span><a class="history-link" '
        f'href="/targets/{t.id}/history">history</a>'
    )


def table_html(rows: Iterable[TargetRow], now_ms: int) -> str:
    """The overview table: a row per target and agent, the target cell spanning its agents."""
    out = [HEAD]
    # An agent's name and last contact are the same in every target's rows: made once.
    names: dict[str, str] = {}
    contacts: dict[str, str] = {}
    for t in rows:
        head = _target(t)
        if not t.cells:
            out.append(f'<tr><td class="target">{head}</td><td colspan="8">no agent</td></tr>')
            continue
        span = len(t.cells)
        for i, c in enumerate(t.cells):
            name = names.get(c.agent)
            if name is None:
                name = names[c.agent] = escape(c.agent, quote=True)
                silent = ' <span class="silent">silent</span>' if c.silent else ""
                contacts[c.agent] = ago(c.last_contact_ms, now_ms) + silent
            first = f'<td rowspan="{span}" class="target">{head}</td>' if i == 0 else ""
            out.append(
                f'<tr class="cell status-{c.status}" data-target="{t.id}" data-agent="{name}">'
                f"{first}{_cell(c, now_ms, name, contacts[c.agent])}</tr>"
            )
    out.append("</tbody></table>")
    return "".join(out)
