"""The `calc` report for people: the layer table, the resulting MTU/MSS, snippets.

Layer: report/. Wording and layout only; the numbers come ready in the typed
`CalcReport` (jobs/calc.py). Writes to the console it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mtuscope.calc.explain import Explanation
    from mtuscope.calc.stack import StackResult
    from mtuscope.jobs.calc import CalcReport


def render(result: CalcReport, console: Console) -> None:
    """Print a `calc` report: the stack table or the explanations, then the advice.

    Args:
        result: the calculator's answer.
        console: where to print.
    """
    if result.explanations is not None:
        _explanations(result, result.explanations, console)
    if result.stack is not None:
        _stack(result.stack, console)
    _result(result, console)
    for snippet in result.snippets:
        console.print(f"[bold]{snippet.platform}[/]")
        # soft_wrap: never break a configuration line, it must paste as it is
        console.print(snippet.text, markup=False, highlight=False, soft_wrap=True)
        console.print()


def _stack(stack: StackResult, console: Console) -> None:
    table = Table(title=f"Link MTU {stack.link_mtu}", title_justify="left")
    table.add_column("layer")
    table.add_column("bytes", justify="right")
    table.add_column("MTU after", justify="right")
    table.add_column("source")
    for layer in stack.layers:
        cost = str(layer.bytes)
        if layer.adds_to == "frame":
            cost += " (frame)"
        elif layer.alignment_loss:
            cost += f" (incl. {layer.alignment_loss} alignment)"
        table.add_row(layer.label, cost, str(layer.mtu_after), layer.reference)
    if stack.layers:
        console.print(table)
    if any(layer.adds_to == "frame" for layer in stack.layers):
        console.print(f"Ethernet frame on the link: {stack.frame_size} bytes without FCS")


def _explanations(result: CalcReport, found: tuple[Explanation, ...], console: Console) -> None:
    head = f"{result.link_mtu} -> {result.ip_mtu} ({result.overhead} bytes)"
    for c in result.conventions:
        what = f"MTU {c.mtu}"
        if c.mtu is None:
            what = f"MSS {c.mss_ipv4} (MTU {result.ip_mtu} - 40)"
        console.print(f"{what} is configured by convention: {c.label}, `{c.config}`")
        console.print(f"  source: {c.source}")
    if not found:
        console.print(f"{head}: no common encapsulation stack matches exactly.")
        for e in result.nearest:
            diff = f"{abs(e.difference)} bytes {'more' if e.difference > 0 else 'less'}"
            console.print(f"  nearest: {e.label} ({' '.join(e.stack)}) leaves {e.mtu}, {diff}")
        return
    table = Table(title=f"Stacks that turn {head}", title_justify="left")
    for col in ("#", "stack", "layers", "how common"):
        table.add_column(col)
    for i, e in enumerate(found, 1):
        table.add_row(str(i), e.label, " ".join(e.stack), e.how_common)
    console.print(table)
    console.print("Sources of each layer's size: see --json (explanations[].reference).")


def _result(result: CalcReport, console: Console) -> None:
    mss6 = result.mss_ipv6
    six = f", IPv6 {mss6}" if mss6 is not None else " (IPv6 impossible below 1280)"
    console.print(f"[bold]IP MTU {result.ip_mtu}[/]: TCP MSS IPv4 {result.mss_ipv4}{six}")
    if result.stack is not None and result.stack.tcp_timestamps:
        p6 = result.stack.payload_ipv6
        console.print(
            f"with TCP timestamps, data per segment: IPv4 {result.stack.payload_ipv4}"
            + (f", IPv6 {p6}" if p6 is not None else "")
        )
    rec = result.recommended
    console.print(
        f"Recommended: interface/tunnel MTU {rec.interface_mtu}, MSS clamp IPv4 "
        f"{rec.mss_clamp_ipv4}" + (f", IPv6 {rec.mss_clamp_ipv6}" if rec.mss_clamp_ipv6 else "")
    )
    console.print()
