"""Reports for people: tables and findings in the terminal.

Layer: report/. Wording, colours and layout live here; findings only carry
fields. Writes to the stream it is given and nowhere else.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.report.model import Report

if TYPE_CHECKING:
    from mtuscope.jobs.result import JobResult

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
MAX_ROWS = 40
"""Rows shown per table; the JSON report always has them all."""
MAX_FINDINGS = 25
"""Findings shown in full; past that, a count per kind first."""


TEXT: dict[str, str] = {
    "capture": "mtuscope.report.capture_text",
    "compare": "mtuscope.report.compare_text",
    "path": "mtuscope.report.path_text",
    "middlebox": "mtuscope.report.middlebox_text",
    "calc": "mtuscope.report.calc_text",
    "lab": "mtuscope.report.lab_text",
}
"""Report kind -> the module whose `render(result, console)` draws that kind's fields."""


def make_console(stream: TextIO) -> Console:
    """The rich console every text renderer draws on, writing to `stream`."""
    return Console(file=stream, width=120 if not stream.isatty() else None, highlight=False)


def render_text(report: Report | JobResult, stream: TextIO) -> None:
    """Write `report` for people to `stream`: the kind's own view, then the findings."""
    console = make_console(stream)
    if not isinstance(report, Report):
        importlib.import_module(TEXT[report.kind]).render(report, console)
        if report.kind != "calc" or report.findings:
            render_findings(report.findings, console)
        return
    if report.kind == "capture":
        _capture(report.body, console)
    elif report.kind == "compare":
        from mtuscope.report.compare_text import compare_story

        for line in compare_story(report.body):
            console.print(line, highlight=False, markup=False)
    elif report.kind == "path":
        from mtuscope.report.path_text import render_path

        render_path(report, console)
        if "two_ended" in report.body:
            from mtuscope.report.responder import render_two_ended_text

            render_two_ended_text(report.body, stream)
    elif report.kind == "middlebox" and "two_ended" in report.body:
        from mtuscope.report.responder import render_two_ended_text

        render_two_ended_text(report.body, stream)
    elif report.kind == "middlebox":
        from mtuscope.report.middlebox_text import render_middlebox

        render_middlebox(report, console)
    if report.kind != "calc" or report.findings:
        render_findings(report.findings, console)


def _capture(body: Mapping[str, Any], console: Console) -> None:
    for cap in body.get("captures", []):
        console.print(
            f"[bold]{cap['path']}[/]: {cap['packets']} frames, {cap.get('format', '')}, "
            f"link types {', '.join(cap.get('link_types', [])) or '-'}"
        )
    conns = body.get("connections", [])
    table = Table(title=f"TCP connections ({len(conns)})", title_justify="left")
    for col in ("id", "client", "MSS", "max seg", "server", "MSS", "max seg", "retx", "encap"):
        table.add_column(
            col, justify="right" if col in ("id", "MSS", "max seg", "retx") else "left"
        )
    for c in conns[:MAX_ROWS]:
        cl, sv = c["client"], c["server"]
        table.add_row(
            str(c["id"]),
            _endpoint(cl, c["family"]),
            _opt(cl["mss"]),
            str(cl["max_segment"]),
            _endpoint(sv, c["family"]),
            _opt(sv["mss"]),
            str(sv["max_segment"]),
            str(c["retransmissions"]),
            "+".join(c["encapsulation"]) or "-",
        )
    if conns:
        console.print(table)
        if len(conns) > MAX_ROWS:
            console.print(f"  … {len(conns) - MAX_ROWS} more connections (see --json)")
    icmps = body.get("icmp_too_big", [])
    if icmps:
        t = Table(title=f"ICMP too-big messages ({len(icmps)})", title_justify="left")
        for col in ("frame", "sender", "MTU", "TTL", "initial TTL", "connection"):
            t.add_column(col)
        for m in icmps[:MAX_ROWS]:
            t.add_row(
                str(m["frame"]),
                m["sender"],
                str(m["mtu"]),
                str(m["ttl"]),
                str(m["initial_ttl_guess"]),
                _opt(m["connection"]),
            )
        console.print(t)


def render_findings(findings: tuple[Finding, ...], console: Console) -> None:
    """The findings block every text report ends with (long lists summarised by kind)."""
    if not findings:
        console.print("[green]No MTU or MSS problem found.[/]")
        return
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    ranked = sorted(findings, key=lambda f: order[f.severity])
    console.print(f"[bold]Findings ({len(findings)})[/]")
    if len(ranked) > MAX_FINDINGS:
        counts = Counter((f.severity, f.kind) for f in ranked)
        table = Table(title_justify="left")
        for col in ("severity", "kind", "findings"):
            table.add_column(col, justify="right" if col == "findings" else "left")
        for (sev, kind), n in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
            table.add_row(Text(sev.value, style=_STYLE[sev]), kind, str(n))
        console.print(table)
        console.print(f"The first {MAX_FINDINGS}, most severe first (all of them: --json):")
    for f in ranked[:MAX_FINDINGS]:
        head = Text(f"{f.severity.value.upper():8}", style=_STYLE[f.severity])
        head.append(f"{f.kind}: ", style="bold")
        head.append(f.summary)
        console.print(head)
        for e in f.evidence[:6]:
            where = f"{e.capture} frame {e.frame}" if e.frame is not None else ""
            if e.hop is not None or e.probe is not None:
                where = " ".join(
                    f"{name} {value}"
                    for name, value in (("hop", e.hop), ("probe", e.probe))
                    if value is not None
                )
            seen = f"{e.field} = {e.observed}"
            if e.expected is not None:
                seen += f" (expected {e.expected})"
            note = f" — {e.note}" if e.note else ""
            console.print(f"          {where}: {seen}{note}", highlight=False)
        if len(f.evidence) > 6:
            console.print(f"          … {len(f.evidence) - 6} more in --json")
        if f.advice:
            console.print(f"          [green]advice:[/] {f.advice}")


def _endpoint(ep: Mapping[str, Any], family: int) -> str:
    addr = ep["address"]
    return f"[{addr}]:{ep['port']}" if family == 6 else f"{addr}:{ep['port']}"


def _opt(value: object) -> str:
    return "-" if value is None else str(value)
