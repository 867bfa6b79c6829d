"""The capture report for people: the files, a table of connections, the ICMP too-big messages.

Layer: report/. Reads a `CaptureResult`'s typed fields and draws on the console
it is handed; the findings block is `report.text.render_findings`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mtuscope.report.capture_json import format_name, linktype_name
from mtuscope.report.wireshark_filter import finding_filter

if TYPE_CHECKING:
    from collections.abc import Callable

    from mtuscope.diagnose.findings import Finding
    from mtuscope.jobs.analyze import CaptureResult
    from mtuscope.passive.results import Connection, Endpoint, IcmpTooBig

MAX_ROWS = 40
"""Rows shown per table; the JSON report always has them all."""


def render(result: CaptureResult, console: Console) -> None:
    """Draw the captures, their connections and ICMP too-big messages."""
    for cap, analysis in zip(result.captures, result.analyses, strict=True):
        info = cap.info
        links = sorted({linktype_name(lt) for lt in info.linktypes})
        head = Text(cap.path, style="bold")
        head.append(
            f": {info.packets} frames, {format_name(info)}, link types {', '.join(links) or '-'}"
        )
        host = cap.host_filter
        if host is not None:
            shown = str(host.address) if host.port is None else f"{host.address} port {host.port}"
            # The frames the analysis saw are the ones the filter kept.
            n = analysis.frames
            head.append(f"; {n} packet{'' if n == 1 else 's'} matched the filter ({shown})")
        console.print(head)
    total = result.connection_count
    if total:
        console.print(_connections(_first_connections(result, MAX_ROWS), total))
        if total > MAX_ROWS:
            console.print(f"  … {total - MAX_ROWS} more connections (see --json)")
    icmps = [m for a in result.analyses for m in a.icmp_too_big]
    if icmps:
        console.print(_icmp_table(icmps))
    note = result.annotation
    if note is not None:
        n = len(note.commented)
        console.print(
            Text(
                f"Annotated copy: {note.path} ({note.frames} frames, {n} with an mtuscope "
                f"comment; Wireshark filter: frame.comment)"
            )
        )


def finding_lines(result: CaptureResult) -> Callable[[Finding], list[str]]:
    """The line under each finding: the Wireshark display filter of its frames."""
    analyses = {a.capture: a for a in result.analyses}

    def lines(f: Finding) -> list[str]:
        text = finding_filter(f, analyses)
        return [] if text is None else [f"wireshark: {text}"]

    return lines


def _first_connections(result: CaptureResult, n: int) -> Iterator[Connection]:
    for a in result.analyses:
        for at in range(min(n, a.connection_count)):
            yield a.connection(a.first_id + at)
            n -= 1
        if n <= 0:
            return


def _connections(conns: Iterator[Connection], total: int) -> Table:
    table = Table(title=f"TCP connections ({total})", title_justify="left")
    for col in ("id", "client", "MSS", "max seg", "server", "MSS", "max seg", "retx", "encap"):
        table.add_column(
            col, justify="right" if col in ("id", "MSS", "max seg", "retx") else "left"
        )
    for c in conns:
        cl, sv = c.client, c.server
        table.add_row(
            str(c.id),
            _endpoint(cl, c.family),
            _opt(cl.mss),
            str(cl.max_segment),
            _endpoint(sv, c.family),
            _opt(sv.mss),
            str(sv.max_segment),
            str(c.retransmissions),
            "+".join(c.encapsulation) or "-",
        )
    return table


def _icmp_table(icmps: list[IcmpTooBig]) -> Table:
    t = Table(title=f"ICMP too-big messages ({len(icmps)})", title_justify="left")
    for col in ("frame", "sender", "MTU", "TTL", "initial TTL", "connection"):
        t.add_column(col)
    for m in icmps[:MAX_ROWS]:
        t.add_row(
            str(m.frame),
            m.sender,
            str(m.mtu),
            str(m.ttl),
            str(m.initial_ttl_guess),
            _opt(m.connection),
        )
    return t


def _endpoint(ep: Endpoint, family: int) -> str:
    return f"[{ep.address}]:{ep.port}" if family == 6 else f"{ep.address}:{ep.port}"


def _opt(value: object) -> str:
    return "-" if value is None else str(value)
