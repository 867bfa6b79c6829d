"""The `middlebox` report for people: one row per hop, then what changed where;
or, for a two-ended check, what each end saw of the handshake.

Layer: report/. Wording and layout only; the facts come typed in the report
(jobs/middlebox.py `MiddleboxReport`, jobs/two_ended.py `TwoEndedReport`).
Writes to the console it is given and nowhere else; findings are printed by
report/text.py after this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from mtuscope.active.middlebox_result import MiddleboxResult
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.diagnose.responder import translated
from mtuscope.wire.enums import TcpOptionKind

if TYPE_CHECKING:
    from mtuscope.jobs.middlebox import MiddleboxReport
    from mtuscope.jobs.two_ended import TwoEndedReport

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


NAT_NOT_SEEN = (
    "Address and port translation (NAT) cannot show here: a NAT translates the packet quoted "
    "in each ICMP error back (RFC 5508); `mtuscope responder-check` against `mtuscope "
    "responder` at the far end sees it."
)
"""Said under every walk: what the quotes cannot show."""


def field_name(field: str) -> str:
    """A reader's name for a Wireshark field name ("tcp.options.mss_val" -> "MSS")."""
    return _NAMES.get(field, field)


def _where(hop: int, address: object) -> str:
    if hop == 0:
        return "this host"
    return f"hop {hop} ({address if address is not None else 'no reply'})"


def change_lines(walk: MiddleboxResult) -> list[str]:
    """One sentence per change along the path, in path order.

    Args:
        walk: the result of a middlebox walk.

    Returns:
        Lines like "MSS rewritten 1460 -> 1300 between hop 2 (198.51.100.2) and hop 3 (...)".
    """
    lines = [
        f"{field_name(change.field)} rewritten {change.before} -> {change.after} "
        f"between {_where(change.from_ttl, change.from_address)} and "
        f"{_where(change.to_ttl, change.to_address)}"
        for change in walk.changes
    ]
    term = walk.terminated
    if term is not None:
        lines.append(
            f"TCP is answered at hop {term.ttl}, but other traffic goes on past "
            f"{term.address}: a TCP proxy there terminates the connection"
        )
    return lines


def render(result: MiddleboxReport | TwoEndedReport, console: Console) -> None:
    """Print a "middlebox" report: a TTL walk, or a two-ended check.

    Args:
        result: the report of `jobs.middlebox.middlebox` or `jobs.two_ended.check_two_ended`.
        console: where to print.
    """
    if isinstance(getattr(result, "observation", None), TwoEndedObservation):
        render_two_ended(result, console)  # type: ignore[arg-type]  # told apart just above
        return
    walk = getattr(result, "walk", None)
    if isinstance(walk, MiddleboxResult):
        render_walk(walk, console, target=getattr(result, "target", None))


def render_walk(walk: MiddleboxResult, console: Console, *, target: str | None = None) -> None:
    """The hop table, the destination's answer, the changes, the probe count.

    Args:
        walk: the result of a middlebox walk.
        console: where to print.
        target: the destination as typed; a name is shown with the address it resolved to.
    """
    dst = str(walk.dst)
    where = dst if target is None or target == dst else f"{target} ({dst})"
    table = Table(title=f"TCP SYN to {where} port {walk.dport}", title_justify="left")
    for column in ("hop", "address", "quote", "changed (sent -> seen)"):
        table.add_column(column)
    for hop in walk.hops:
        changed = ", ".join(f"{field_name(c.field)} {c.sent} -> {c.seen}" for c in hop.changed)
        if hop.too_short:
            changed = (changed + "; " if changed else "") + "quote too short for the options"
        quote = f"{hop.quote_bytes} B" if hop.quote_bytes else "-"
        address = "*" if hop.address is None else str(hop.address)
        table.add_row(str(hop.ttl), address, quote, changed or "-")
    dest = walk.response
    if dest is not None:
        table.add_row(
            str(dest.ttl),
            str(dest.address),
            "SYN/ACK" if dest.syn_ack else "RST",
            f"MSS {dest.mss}" if dest.mss is not None else "-",
        )
    console.print(table)
    lines = change_lines(walk)
    if not lines:
        reached = "reached" if walk.reached else "not reached"
        lines.append(f"Nothing on the path changed the SYN (destination {reached}).")
    for line in lines:
        _line(console, line)
    _line(console, NAT_NOT_SEEN)
    seconds = "" if walk.seconds is None else f", {walk.seconds:.2f} s"
    _line(
        console,
        f"{len(walk.probes)} probes, {walk.answered} answered{seconds}; "
        f"stop: {walk.stop_reason.value}",
    )


def render_two_ended(two: TwoEndedReport, console: Console) -> None:
    """A few lines for people: what each end saw of the handshake, once.

    `probe --responder` prints the same block after its path (report/path_text.py).

    Args:
        two: the report of `jobs.two_ended.check_two_ended`.
        console: where to print.
    """
    obs = two.observation
    sent, seen = obs.sent, obs.seen
    sent_mss = sent.mss if sent is not None else obs.announced_mss
    _line(
        console,
        f"Two-ended check with {obs.target.address} port {obs.target.port} (IPv{seen.family})",
    )
    _line(console, f"  SYN MSS: {sent_mss} sent, {seen.mss} arrived")
    if sent is not None:
        _line(
            console,
            f"  SYN options: {_kinds(sent.option_kinds)} sent; {_kinds(seen.option_kinds)} "
            f"arrived; {_hops(sent.ttl - seen.ttl)} on the way",
        )
    if obs.synack_seen is not None:
        _line(console, f"  SYN/ACK MSS: {obs.server_mss} sent, {obs.synack_seen.mss} arrived")
    for field, (mine, theirs) in translated(obs).items():
        _line(console, f"  translated {field}: {mine} here, {theirs} at the responder")
    rev = obs.reverse
    if rev is not None:
        pmtu = rev.result.path_mtu if rev.result is not None else None
        _line(console, f"  path MTU back toward us: {pmtu}")


def _hops(n: int) -> str:
    return f"{n} hop{'' if n == 1 else 's'}"


def _kinds(kinds: tuple[int, ...]) -> str:
    return ",".join(str(TcpOptionKind(k)) for k in kinds)


def _line(console: Console, text: str) -> None:
    # Plain text: addresses and option lists are no markup, and a long line is not wrapped.
    console.print(text, markup=False, highlight=False, soft_wrap=True)
