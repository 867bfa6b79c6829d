"""Path reports for people: the hops table, the drop, the MSS and the sweep table.

Layer: report/. Wording and layout only; reads the typed fields of a "path"
report (`jobs.path.PathReport`) and writes to the console it is given. Findings
are printed by `text.py`, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.table import Table

from mtuscope.active.hop_trace import Hop, MtuDrop
from mtuscope.active.mss import MssObservation, RequestKind, TransferObservation, TransferVerdict
from mtuscope.active.probe import PortState, ProbeRecord
from mtuscope.active.sweep import SweepRow
from mtuscope.diagnose.rules.mss_owner import MssOwner, MssReading, path_reading
from mtuscope.diagnose.rules.mtu_drop import likely_encapsulation
from mtuscope.report.path_json import unreachable_fields

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
    if result.host != where:  # a name: as typed, then what it resolved to
        where = f"{result.host} ({where})"
        if obs.port is not None:
            where += f" port {obs.port}"
    elif obs.port is not None:
        where = f"[{where}]:{obs.port}" if obs.family == 6 else f"{where}:{obs.port}"
    how = f"{result.probe_kind.value} probes, {result.transport.value} sockets"
    console.print(f"[bold]Path to {where}[/] (IPv{obs.family}, {how})")
    _hops(obs.trace.hops if obs.trace else (), console)
    _sweep(obs.sweep.rows if obs.sweep else (), console)
    console.print(pmtu_line(result), highlight=False)
    gone = unreachable_fields(result.unreachable, obs.family)
    if gone is not None:
        mark = f" {gone['symbol']}" if gone["symbol"] else ""
        sender = gone["from"] or "this host"
        console.print(
            f"Unreachable{mark}: {sender} answered {gone['reason']} for {obs.dst}", highlight=False
        )
    elif result.port_state is not None and result.port_state is not PortState.OPEN:
        how = "answered RST" if result.port_state is PortState.CLOSED else "answered nothing"
        console.print(
            f"Port {obs.port}: {result.port_state.value} ({obs.dst} {how}): no MSS to measure",
            highlight=False,
        )
    # Every drop, nearest first, each with its own encapsulation guess.
    for drop in obs.trace.drops if obs.trace else ():
        console.print(_drop_line(drop))
    _mss(obs.mss, console, path_reading(obs))
    p = result.probes
    console.print(
        f"Probes: {p.sent} sent, {p.answered} answered, {round(p.seconds, 3)} s", highlight=False
    )
    if result.two_ended is not None:
        from mtuscope.report.middlebox_text import render_two_ended

        render_two_ended(result.two_ended, console)


def pmtu_line(result: PathReport) -> str:
    """ "Path MTU: 1400 bytes (search ended: converged)", or the bounds when not exact:
    "Path MTU: between 1280 and 1500 bytes (search cut short: budget)"."""
    stop = result.stop_reason.value
    how = f"search cut short: {stop}" if result.cut_short else f"search ended: {stop}"
    if result.pmtu is not None:
        return f"Path MTU: [bold]{result.pmtu}[/] bytes ({how})"
    bounds = result.pmtu_bounds
    if bounds is None:
        return f"Path MTU: unknown ({how})"
    lo, hi = bounds
    if lo is None:
        return f"Path MTU: unknown, at most {hi} bytes ({how})"
    return f"Path MTU: between [bold]{lo}[/] and [bold]{hi}[/] bytes ({how})"


def probe_line(record: ProbeRecord, start: float) -> str:
    """One line for `-v` (stderr): id, size, TTL, flow, sent time (from `start`, the
    run's first probe), the reply and its sender and MTU, the outcome, the RTT."""
    from mtuscope.report.path_json import record_json

    r = record_json(record, start)
    reply = r["reply"] or "no reply"
    if r["from"]:
        reply += f" from {r['from']}"
    if r["mtu"] is not None:
        reply += f" mtu {r['mtu']}"
    rtt = f"{r['rtt_ms']} ms" if r["rtt_ms"] is not None else "-"
    return (
        f"probe {r['id']}: size {r['size']} ttl {r['ttl']} {r['flow']} "
        f"sent +{r['sent_s']:.3f} s: {reply} ({r['outcome']}), rtt {rtt}"
    )


def print_probe(record: ProbeRecord, start: float, *, stream: TextIO) -> None:
    """Write `probe_line` to `stream` at once (`-v` logs each probe as it is filed)."""
    print(f"mtuscope: {probe_line(record, start)}", file=stream, flush=True)


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
    if mss is None:
        return
    if any(v is not None for v in (mss.server_announced, mss.effective, mss.combined)):
        stamps = " (+12 bytes of timestamp option)" if mss.timestamps and mss.effective else ""
        console.print(
            f"MSS: server announced {_opt(mss.server_announced)}, "
            f"effective {_opt(mss.effective)}{stamps}, segments carry {_opt(mss.combined)}"
            f"{_whose(read)}",
            highlight=False,
        )
    if mss.transfer is not None:
        console.print(_download_line(mss.transfer, mss.verdict, mss.combined), highlight=False)


def _whose(read: MssReading | None) -> str:
    """Whose the MSS is, when the verdict knows: the path, a clamp, the server itself."""
    if read is not None and read.owner is MssOwner.PATH and read.path_mtu is not None:
        return f": all the path MTU {read.path_mtu} allows, the path is the limit"
    if read is not None and read.owner is MssOwner.CLAMP:
        return f": MSS {read.mss} set by a clamp on the way"
    if read is not None and read.owner is MssOwner.SERVER and read.path_allows is not None:
        if read.mss < read.path_allows:
            return f": the server's own MSS {read.mss}, the path allows {read.path_allows}"
    return ""


def _download_line(t: TransferObservation, verdict: TransferVerdict | None, mss: int | None) -> str:
    """One line for the download: done with its largest segment, or how it ended."""
    sent = {
        RequestKind.NONE: "nothing sent first",
        RequestKind.HTTP_GET: "after an HTTP GET",
        RequestKind.TLS_CLIENT_HELLO: "after a TLS ClientHello",
        RequestKind.USER: "after the given request",
    }[t.request]
    largest = _opt(t.largest_segment)
    if verdict is TransferVerdict.COMPLETE:
        small = ""
        if mss is not None and t.moved_bytes < mss:
            small = "; the whole answer fit in one segment: full-size segments were not tested"
        return (
            f"{t.direction.value} completed: {t.moved_bytes} bytes, largest segment {largest} "
            f"(TCP_INFO rcv_mss; {sent}){small}"
        )
    if verdict is TransferVerdict.STALLED:
        return (
            f"[red]{t.direction.value} stalled[/] after {t.moved_bytes} of {t.expected_bytes} "
            f"bytes ({sent}), largest segment {largest} (TCP_INFO rcv_mss)"
        )
    return (
        f"{t.direction.value} ended early: the connection closed or was reset after "
        f"{t.moved_bytes} of {t.expected_bytes} bytes ({sent})"
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
