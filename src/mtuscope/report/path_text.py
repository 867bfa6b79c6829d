"""Path reports for people: the hops table, the drop, the MSS and the sweep table.

Layer: report/. Wording and layout only; reads the JSON-ready body of a "path"
report and writes to the console it is given. Findings are printed by
`text.py`, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from mtuscope.report.model import Report

MAX_ROWS = 64
"""Rows shown per table; the JSON report always has them all."""


def render_path(report: Report, console: Console) -> None:
    """Write the body of a "path" report (not its findings) to `console`.

    Args:
        report: a report of kind "path" (from `probe`, `trace` or `sweep`).
        console: where to write.
    """
    body = report.body
    target = body.get("target", {})
    family = body.get("family")
    where = target.get("address", "?")
    if target.get("port") is not None:
        where = f"[{where}]:{target['port']}" if family == 6 else f"{where}:{target['port']}"
    how = ", ".join(
        x
        for x in (
            f"{body['probe_kind']} probes" if body.get("probe_kind") else "",
            f"{body['transport']} sockets" if body.get("transport") else "",
        )
        if x
    )
    console.print(f"[bold]Path to {where}[/] (IPv{family}{', ' + how if how else ''})")
    _hops(body.get("hops", []), console)
    _sweep(body.get("sweep", []), console)
    pmtu = body.get("pmtu")
    stop = body.get("stop_reason", "")
    line = f"Path MTU: [bold]{pmtu}[/] bytes" if pmtu is not None else "Path MTU: unknown"
    console.print(f"{line} (search ended: {stop})")
    drop = body.get("mtu_drop")
    if drop:
        console.print(_drop_line(drop))
    _mss(body.get("mss", {}), console)
    probes = body.get("probes", {})
    if probes:
        console.print(
            f"Probes: {probes.get('sent', 0)} sent, {probes.get('answered', 0)} answered, "
            f"{probes.get('seconds', 0)} s",
            highlight=False,
        )


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def _hops(hops: list[Mapping[str, Any]], console: Console) -> None:
    if not hops:
        return
    table = Table(title=f"Hops ({len(hops)})", title_justify="left")
    for col, right in (("ttl", True), ("address", False), ("rtt ms", True), ("MTU", True)):
        table.add_column(col, justify="right" if right else "left")
    previous: int | None = None
    for h in hops[:MAX_ROWS]:
        mtu = h.get("mtu")
        shown = _opt(mtu)
        if mtu is not None and previous is not None and mtu < previous:
            shown = f"[yellow]{mtu}[/]"
        if mtu is not None:
            previous = mtu
        table.add_row(str(h["ttl"]), h["address"] or "*", _opt(h.get("rtt_ms")), shown)
    console.print(table)
    if len(hops) > MAX_ROWS:
        console.print(f"  … {len(hops) - MAX_ROWS} more hops (see --json)")


def _drop_line(drop: Mapping[str, Any]) -> str:
    after = (
        "this host" if drop["after_hop"] == 0 else f"hop {drop['after_hop']} ({drop['address']})"
    )
    at_addr = drop.get("at_address")
    at = f"hop {drop['at_hop']}" + (f" ({at_addr})" if at_addr else "")
    silent = " [red]silently: no too-big message[/]" if drop.get("silent") else ""
    likely = [e.get("label", "") for e in drop.get("likely_encapsulation", [])]
    guess = f"; likely {' or '.join(likely)}" if likely else ""
    return (
        f"MTU drop: {drop['from_mtu']} → [bold]{drop['to_mtu']}[/] between {after} and {at}"
        f"{silent}{guess}"
    )


def _mss(mss: Mapping[str, Any], console: Console) -> None:
    if not mss or all(mss.get(k) is None for k in ("server_announced", "effective", "combined")):
        return
    console.print(
        f"MSS: server announced {_opt(mss.get('server_announced'))}, "
        f"effective {_opt(mss.get('effective'))}, segments carry {_opt(mss.get('combined'))}",
        highlight=False,
    )


def _sweep(rows: list[Mapping[str, Any]], console: Console) -> None:
    if not rows:
        return
    table = Table(title=f"DF sweep ({len(rows)} sizes)", title_justify="left")
    for col in ("size", "sent", "reached", "too big", "lost", "other", "MTU quoted", "min rtt ms"):
        table.add_column(col, justify="right")
    for r in rows[:MAX_ROWS]:
        reached = f"[green]{r['reached']}[/]" if r["reached"] else "[red]0[/]"
        table.add_row(
            str(r["size"]),
            str(r["sent"]),
            reached,
            str(r["too_big"]),
            str(r["lost"]),
            str(r["other"]),
            ", ".join(map(str, r["mtus"])) or "-",
            _opt(r["min_rtt_ms"]),
        )
    console.print(table)
    if len(rows) > MAX_ROWS:
        console.print(f"  … {len(rows) - MAX_ROWS} more sizes (see --json)")
