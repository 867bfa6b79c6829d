"""Reports for people: tables and findings in the terminal.

Layer: report/. Wording, colours and layout live here; findings only carry
fields. Writes to the stream it is given and nowhere else.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mtuscope.diagnose.findings import Evidence, Finding, Severity

if TYPE_CHECKING:
    from mtuscope.jobs.result import JobResult

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
MAX_FINDINGS = 25
"""Findings shown in full; past that, a count per kind first."""


TEXT: dict[str, str] = {
    "capture": "mtuscope.report.capture_text",
    "compare": "mtuscope.report.compare_text",
    "path": "mtuscope.report.path_text",
    "middlebox": "mtuscope.report.middlebox_text",
    "calc": "mtuscope.report.calc_text",
}
"""Report kind -> the module whose `render(result, console)` draws that kind's fields."""


UNWRAPPED = 1 << 16
"""The width of a console that must not wrap: lines and tables as wide as their content."""


def make_console(stream: TextIO, *, columns: int | None = None) -> Console:
    """The rich console every text renderer draws on, writing to `stream`.

    On a terminal, its width (or `columns`). Not on a terminal (a pipe, a file):
    `columns` when given, else no wrapping at all, so that each line of the
    report stays one line for `grep` and `cut`.

    Args:
        stream: where the report goes.
        columns: the width asked for (the CLI passes `COLUMNS`); None for the default.
    """
    isatty = getattr(stream, "isatty", None)
    if (isatty is not None and isatty()) or columns is not None:
        return Console(file=stream, width=columns, highlight=False)
    return Console(file=stream, width=UNWRAPPED, soft_wrap=True, highlight=False)


def render_text(result: JobResult, stream: TextIO, *, columns: int | None = None) -> None:
    """Write `result` for people to `stream`: the kind's own view, then the findings.

    A calculation without findings (the usual case) ends with its own view.

    Args:
        result: the job's result.
        stream: where to write.
        columns: the width asked for (`make_console`).
    """
    console = make_console(stream, columns=columns)
    view = importlib.import_module(TEXT[result.kind])
    view.render(result, console)
    if result.kind != "calc" or result.findings:
        # A path search cut short has no verdict: never "no problem" (jobs.path.PathReport).
        inconclusive: str | None = getattr(result, "inconclusive", None)
        # A kind's view may add lines under each finding (captures: Wireshark filters).
        lines = getattr(view, "finding_lines", None)
        extra = lines(result) if lines is not None else None
        render_findings(result.findings, console, inconclusive=inconclusive, extra=extra)


def render_findings(
    findings: tuple[Finding, ...],
    console: Console,
    *,
    inconclusive: str | None = None,
    extra: Callable[[Finding], list[str]] | None = None,
) -> None:
    """The findings block every text report ends with (long lists summarised by kind).

    Args:
        findings: what was concluded.
        console: where to write.
        inconclusive: why the job has no verdict (a search cut short), if so: said
            instead of "no problem" (and before the findings it did make).
        extra: lines to print under a finding's evidence (a Wireshark filter), if any.
    """
    if inconclusive is not None:
        console.print(f"[yellow]Inconclusive:[/] {inconclusive}: no verdict.")
    if not findings:
        if inconclusive is None:
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
    shown_advice: dict[str, str] = {}
    shown_snippets: set[str] = set()
    for f in ranked[:MAX_FINDINGS]:
        head = Text(f"{f.severity.value.upper():8}", style=_STYLE[f.severity])
        head.append(f"{f.kind}: ", style="bold")
        head.append(f.summary)
        console.print(head)
        for e in f.evidence[:6]:
            console.print(f"          {evidence_text(e)}", highlight=False)
        if len(f.evidence) > 6:
            console.print(f"          … {len(f.evidence) - 6} more in --json")
        for line in extra(f) if extra is not None else ():
            console.print(Text(f"          {line}"))
        if f.advice:
            advice = _advice_once(f, shown_advice, shown_snippets)
            console.print(f"          [green]advice:[/] {advice}")


def _advice_once(f: Finding, shown: dict[str, str], snippets: set[str]) -> str:
    """The advice of `f`, or a pointer to the same advice above; a configuration snippet
    (the lines after the paragraph) already printed is not printed again."""
    if f.advice in shown:
        kind = shown[f.advice]
        return "the same as above." if kind == f.kind else f"the same as for {kind} above."
    shown[f.advice] = f.kind
    text, _, snippet = f.advice.partition("\n")
    if not snippet:
        return text
    if snippet in snippets:
        return f"{text} (configuration lines as above)"
    snippets.add(snippet)
    return f"{text}\n{snippet}"


def _expected(value: int | str) -> str:
    """An expected value as a person says it: "at most 1400", "68 to 1419"."""
    text = str(value)
    if text.startswith("<= "):
        return f"at most {text[3:]}"
    if text.startswith(">= "):
        return f"at least {text[3:]}"
    low, sep, high = text.partition("..")
    if sep and low.strip().isdigit() and high.strip().isdigit():
        return f"{low} to {high}"
    return text


def evidence_text(e: Evidence) -> str:
    """One evidence item for people: where, the field and its value, what was expected
    (only when it differs), and the note."""
    where = f"{e.capture} frame {e.frame}" if e.frame is not None else ""
    if e.hop is not None or e.probe is not None:
        where = " ".join(
            f"{name} {value}"
            for name, value in (("hop", e.hop), ("probe", e.probe))
            if value is not None
        )
    seen = e.field if e.observed is None else f"{e.field} = {e.observed}"
    if e.expected is not None and str(e.expected) != str(e.observed):
        seen += f", expected {_expected(e.expected)}"
    note = f" — {e.note}" if e.note else ""
    return f"{where}: {seen}{note}"
