"""Path reports for people: the hops table, the drop, the MSS and the sweep table.

Layer: report/. Wording and layout only; reads the typed fields of a "path"
report (`jobs.path.PathReport`) and writes to the console it is given. Findings
are printed by `text.py`, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from mtuscope.active.hop_trace import Hop, MtuDrop
from mtuscope.active.mss import MssObservation
from mtuscope.active.sweep import SweepRow
from mtuscope.diagnose.rules.mss_owner import MssOwner, MssReading, path_reading
from mtuscope.diagnose.rules.mtu_drop import likely_encapsulation

if TYPE_CHECKING:
    from mtuscope.jobs.path import PathReport

MAX_ROWS = 64
"""Rows shown per table; the JSON report always has them all."""


def render(result: PathReport, console: Console) -> None:
    """Write the body of a "path" report (not its findings) to `console`.

    Args:
        result: the report of `probe`, `trace` or `sweep`.
        console: where to write.
    """
    obs = result.observations
    where = str(obs.dst)
    if obs.port is not None:
        where = f"[{where}]:{obs.port}" if obs.family == 6 else f"{where}:{obs.port}"
    how = f"{result.probe_kind.value} probes, {result.transport.value} sockets"
    console.print(f"[bold]Path to {where}[/] (IPv{obs.family}, {how})")
    _hops(obs.trace.hops if obs.trace else (), console)
    _sweep(obs.sweep.rows if obs.sweep else (), console)
    pmtu = result.pmtu
    line = f"Path MTU: [bold]{pmtu}[/] bytes" if pmtu is not None else "Path MTU: unknown"
    console.print(f"{line} (search ended: {result.stop_reason.value})")
    drop = obs.trace.mtu_drop if obs.trace else None
    if drop is not None:
        console.print(_drop_line(drop))
    _mss(obs.mss, console, path_reading(obs))
    p = result.probes
    console.print(
        f"Probes: {p.sent} sent, {p.answered} answered, {round(p.seconds, 3)} s", highlight=False
    )
    if result.two_ended is not None:
        from mtuscope.report.middlebox_text import render_two_ended

        render_two_ended(result.two_ended, console)


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def _hops(hops: tuple[Hop, ...], console: Console) -> None:
    if not hops:
        return
    table = Table(title=f"Hops ({len(hops)})", title_justify="left")
    for col, right in (("ttl", True), ("address", False), ("rtt ms", True), ("MTU", True)):
        table.add_column(col, justify="right" if right else "left")
    previous: int | None = None
    for h in hops[:MAX_ROWS]:
        shown = _opt(h.mtu)
        if h.mtu is not None and previous is not None and h.mtu < previous:
            shown = f"[yellow]{h.mtu}[/]"
        if h.mtu is not None:
            previous = h.mtu
        address = str(h.address) if h.address is not None else "*"
        table.add_row(str(h.ttl), address, _opt(h.rtt_ms), shown)
    console.print(table)
    if len(hops) > MAX_ROWS:
        console.print(f"  … {len(hops) - MAX_ROWS} more hops (see --json)")


def _drop_line(drop: MtuDrop) -> str:
    after = "this host" if drop.after_hop == 0 else f"hop {drop.after_hop} ({drop.address})"
    at = f"hop {drop.at_hop}" + (f" ({drop.at_address})" if drop.at_address else "")
    silent = " [red]silently: no too-big message[/]" if drop.silent else ""
    likely = [e.get("label", "") for e in likely_encapsulation(drop)]
    guess = f"; likely {' or '.join(likely)}" if likely else ""
    return (
        f"MTU drop: {drop.from_mtu} → [bold]{drop.to_mtu}[/] between {after} and {at}"
        f"{silent}{guess}"
    )


def _mss(mss: MssObservation | None, console: Console, read: MssReading | None) -> None:
    if mss is None or all(v is None for v in (mss.server_announced, mss.effective, mss.combined)):
        return
    stamps = " (+12 bytes of timestamp option)" if mss.timestamps and mss.effective else ""
    whose = ""
    if read is not None and read.owner is MssOwner.PATH and read.path_mtu is not None:
        whose = f": all the path MTU {read.path_mtu} allows, the path is the limit"
    elif read is not None and read.owner is MssOwner.CLAMP:
        whose = f": MSS {read.mss} set by a clamp on the way"
    elif read is not None and read.owner is MssOwner.SERVER and read.path_allows is not None:
        if read.mss < read.path_allows:
            whose = f": the server's own MSS {read.mss}, the path allows {read.path_allows}"
    console.print(
        f"MSS: server announced {_opt(mss.server_announced)}, "
        f"effective {_opt(mss.effective)}{stamps}, segments carry {_opt(mss.combined)}{whose}",
        highlight=False,
    )


def _sweep(rows: tuple[SweepRow, ...], console: Console) -> None:
    if not rows:
        return
    table = Table(title=f"DF sweep ({len(rows)} sizes)", title_justify="left")
    for col in ("size", "sent", "reached", "too big", "lost", "other", "MTU quoted", "min rtt ms"):
        table.add_column(col, justify="right")
    for r in rows[:MAX_ROWS]:
        reached = f"[green]{r.reached}[/]" if r.reached else "[red]0[/]"
        table.add_row(
            str(r.size),
            str(r.sent),
            reached,
            str(r.too_big),
            str(r.lost),
            str(r.other),
            ", ".join(map(str, r.mtus)) or "-",
            _opt(r.min_rtt_ms),
        )
    console.print(table)
    if len(rows) > MAX_ROWS:
        console.print(f"  … {len(rows) - MAX_ROWS} more sizes (see --json)")
