"""Pieces of HTML every report page shares: findings with their advice, warnings.

Layer: report/. Pure: JSON-ready dicts in (`findings[]` as the JSON report has
them, so a stored report and a fresh result render alike), escaped HTML text
out. Classes are stable (`finding`, `severity-error`, `advice`, `evidence`) so
the dashboard's stylesheet and tests can find them. Advice keeps its line
breaks: its configuration snippets are shown as the lines to paste.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
MAX_EVIDENCE = 8
"""Evidence rows shown per finding."""


def esc(value: object) -> str:
    """`value` as HTML text (quotes escaped too)."""
    return escape("" if value is None else str(value), quote=True)


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], *, cls: str = "") -> str:
    """A plain table; every cell escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _where(e: Mapping[str, Any]) -> str:
    if e.get("frame") is not None:
        return f"{e.get('capture') or ''} frame {e['frame']}".strip()
    parts = [f"{k} {e[k]}" for k in ("hop", "probe") if e.get(k) is not None]
    return " ".join(parts)


def finding_html(f: Mapping[str, Any], *, who: str | None = None) -> str:
    """One finding: severity, kind, summary, evidence, advice (with its snippets)."""
    sev = str(f.get("severity", "info"))
    kind = str(f.get("kind", ""))
    head = (
        f'<div class="finding severity-{esc(sev)}" data-kind="{esc(kind)}">'
        f'<div class="finding-head"><span class="severity">{esc(sev.upper())}</span> '
        f'<span class="kind">{esc(kind)}</span>'
        + (f' <span class="who">{esc(who)}</span>' if who else "")
        + f'</div><p class="summary">{esc(f.get("summary"))}</p>'
    )
    evidence = [e for e in f.get("evidence") or [] if isinstance(e, Mapping)]
    rows = [
        (_where(e), e.get("field"), e.get("observed"), e.get("expected"), e.get("note"))
        for e in evidence[:MAX_EVIDENCE]
    ]
    parts = [head]
    if rows:
        more = len(evidence) - len(rows)
        parts.append(
            '<details class="evidence"><summary>evidence'
            + (f" (first {len(rows)} of {len(evidence)})" if more > 0 else f" ({len(rows)})")
            + "</summary>"
            + table(("where", "field", "observed", "expected", "note"), rows)
            + "</details>"
        )
    advice = f.get("advice")
    if advice:
        parts.append(f'<pre class="advice">{esc(advice)}</pre>')
    if f.get("reference"):
        parts.append(f'<p class="reference">{esc(f["reference"])}</p>')
    parts.append("</div>")
    return "".join(parts)


def findings_html(findings: Iterable[Mapping[str, Any]], *, limit: int = 50) -> str:
    """The findings block, most severe first; a line when there are none."""
    ranked = sorted(findings, key=lambda f: SEVERITY_RANK.get(str(f.get("severity")), 3))
    if not ranked:
        return '<p class="no-findings">No MTU or MSS problem found.</p>'
    shown = "".join(finding_html(f) for f in ranked[:limit])
    more = len(ranked) - limit
    tail = f'<p class="more">… and {more} more findings.</p>' if more > 0 else ""
    return f'<div class="findings">{shown}{tail}</div>'


def warnings_html(warnings: Iterable[str]) -> str:
    """The report's warnings, or nothing."""
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f'<ul class="warnings">{items}</ul>' if items else ""
