"""The `calc` report for people: the layer table, the resulting MTU/MSS, snippets.

Layer: report/. Wording and layout only; the numbers come ready in the report
body (see `mtuscope.cli.calc` for its fields). Writes to the console it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from mtuscope.report.model import Report


def render_calc(report: Report, console: Console) -> None:
    """Print a `calc` report: the stack table or the explanations, then the advice.

    Args:
        report: a report of kind "calc".
        console: where to print.
    """
    body = report.body
    if body.get("mode") == "explain":
        _explanations(body, console)
    else:
        _stack(body, console)
    _result(body, console)
    for platform, text in body.get("snippets", {}).items():
        console.print(f"[bold]{platform}[/]")
        # soft_wrap: never break a configuration line, it must paste as it is
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        console.print()


def _stack(body: Mapping[str, Any], console: Console) -> None:
    table = Table(title=f"Link MTU {body['link_mtu']}", title_justify="left")
    table.add_column("layer")
    table.add_column("bytes", justify="right")
    table.add_column("MTU after", justify="right")
    table.add_column("source")
    for layer in body["layers"]:
        cost = str(layer["bytes"])
        if layer.get("adds_to") == "frame":
            cost += " (frame)"
        elif layer.get("alignment_loss"):
            cost += f" (incl. {layer['alignment_loss']} alignment)"
        table.add_row(layer["label"], cost, str(layer["mtu_after"]), layer["reference"])
    if body["layers"]:
        console.print(table)
    if body.get("frame_size") is not None and any(
        layer.get("adds_to") == "frame" for layer in body["layers"]
    ):
        console.print(f"Ethernet frame on the link: {body['frame_size']} bytes without FCS")


def _explanations(body: Mapping[str, Any], console: Console) -> None:
    found = body.get("explanations", [])
    head = f"{body['link_mtu']} -> {body['ip_mtu']} ({body['overhead']} bytes)"
    if not found:
        console.print(f"{head}: no common encapsulation stack matches.")
        return
    table = Table(title=f"Stacks that turn {head}", title_justify="left")
    for col in ("#", "stack", "layers", "how common"):
        table.add_column(col)
    for i, e in enumerate(found, 1):
        table.add_row(str(i), e["label"], " ".join(e["stack"]), e["how_common"])
    console.print(table)
    console.print("Sources of each layer's size: see --json (explanations[].reference).")


def _result(body: Mapping[str, Any], console: Console) -> None:
    mss6 = body.get("mss_ipv6")
    six = f", IPv6 {mss6}" if mss6 is not None else " (IPv6 impossible below 1280)"
    console.print(f"[bold]IP MTU {body['ip_mtu']}[/]: TCP MSS IPv4 {body['mss_ipv4']}{six}")
    if body.get("tcp_timestamps"):
        p6 = body.get("payload_ipv6")
        console.print(
            f"with TCP timestamps, data per segment: IPv4 {body['payload_ipv4']}"
            + (f", IPv6 {p6}" if p6 is not None else "")
        )
    rec = body.get("recommended", {})
    if rec:
        console.print(
            f"Recommended: interface/tunnel MTU {rec['interface_mtu']}, MSS clamp IPv4 "
            f"{rec['mss_clamp_ipv4']}"
            + (f", IPv6 {rec['mss_clamp_ipv6']}" if rec.get("mss_clamp_ipv6") else "")
        )
    console.print()
