"""The `middlebox` report for people: one row per hop, then what changed where.

Layer: report/. Wording and layout only; the facts come ready in the report
body (`mtuscope.diagnose.middlebox.middlebox_body`). Writes to the console it
is given and nowhere else; findings are printed by report/text.py after this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from mtuscope.report.model import Report

_NAMES = {
    "tcp.options.mss_val": "MSS",
    "tcp.options.wscale.shift": "window scale",
    "tcp.options.sack_perm": "SACK-permitted",
    "tcp.options.timestamp.tsval": "TSval",
    "tcp.options.timestamp.tsecr": "TSecr",
    "tcp.options": "TCP option list",
    "tcp.seq_raw": "sequence number",
    "tcp.ack_raw": "acknowledgment number",
    "tcp.srcport": "source port",
    "tcp.dstport": "destination port",
    "tcp.flags": "TCP flags",
    "tcp.window_size_value": "TCP window",
    "ip.dsfield": "DSCP/ECN byte",
    "ipv6.tclass": "traffic class",
    "ip.id": "IP id",
    "ip.flags.df": "DF bit",
    "ip.len": "IP total length",
    "ipv6.plen": "IPv6 payload length",
    "ip.src": "source address",
    "ipv6.src": "source address",
    "ip.dst": "destination address",
    "ipv6.dst": "destination address",
}


def field_name(field: str) -> str:
    """A reader's name for a Wireshark field name ("tcp.options.mss_val" -> "MSS")."""
    return _NAMES.get(field, field)


def _where(hop: int, address: object) -> str:
    if hop == 0:
        return "this host"
    return f"hop {hop} ({address if address else 'no reply'})"


def change_lines(body: Mapping[str, Any]) -> list[str]:
    """One sentence per change along the path, in path order.

    Args:
        body: a `middlebox` report body.

    Returns:
        Lines like "MSS rewritten 1460 -> 1300 between hop 2 (198.51.100.2) and hop 3 (...)".
    """
    lines = []
    for change in body.get("changes", []):
        lines.append(
            f"{field_name(change['field'])} rewritten {change['before']} -> {change['after']} "
            f"between {_where(change['from_hop'], change['from_address'])} and "
            f"{_where(change['to_hop'], change['to_address'])}"
        )
    term = body.get("tcp_terminated_at")
    if term:
        lines.append(
            f"TCP is answered at hop {term['ttl']}, but other traffic goes on past "
            f"{term['address']}: a TCP proxy there terminates the connection"
        )
    return lines


def render_middlebox(report: Report, console: Console) -> None:
    """Print a `middlebox` report: the hop table, the destination's answer, the changes.

    Prints nothing for a body without `hops` (responder-check's two-ended body).

    Args:
        report: a report of kind "middlebox".
        console: where to print.
    """
    body = report.body
    if "hops" not in body:
        return  # a "middlebox" report of another verb (responder-check): not ours to draw
    target = body.get("target", {})
    table = Table(
        title=f"TCP SYN to {target.get('address')} port {target.get('port')}",
        title_justify="left",
    )
    for column in ("hop", "address", "quote", "changed (sent -> seen)"):
        table.add_column(column)
    for hop in body.get("hops", []):
        changed = ", ".join(
            f"{field_name(name)} {sent} -> {seen}" for name, (sent, seen) in hop["changed"].items()
        )
        if hop.get("too_short"):
            changed = (changed + "; " if changed else "") + "quote too short for the options"
        quote = f"{hop['quote_bytes']} B" if hop["quote_bytes"] else "-"
        table.add_row(str(hop["ttl"]), hop["address"] or "*", quote, changed or "-")
    dest = body.get("destination", {})
    if dest.get("reached"):
        kind = "SYN/ACK" if dest.get("syn_ack") else "RST"
        mss = dest.get("mss")
        table.add_row(
            str(dest.get("ttl")),
            str(dest.get("address")),
            kind,
            f"MSS {mss}" if mss is not None else "-",
        )
    console.print(table)
    lines = change_lines(body)
    if not lines:
        reached = "reached" if dest.get("reached") else "not reached"
        lines.append(f"Nothing on the path changed the SYN (destination {reached}).")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    probes = body.get("probes", {})
    seconds = probes.get("seconds")
    console.print(
        f"{probes.get('sent', 0)} probes, {probes.get('answered', 0)} answered"
        + (f", {seconds:.2f} s" if isinstance(seconds, float) else "")
        + f"; stop: {body.get('stop_reason')}",
        markup=False,
        highlight=False,
    )
