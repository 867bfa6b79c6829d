"""What a middlebox walk found: per-hop quotes, the changes along the path, the far end's answer.

Layer: active/. Frozen results of `MiddleboxTrace` (active/middlebox.py) and the
pure placing of each change between two hops (`path_changes`); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mtuscope.active.end_check import TcpEnd
from mtuscope.active.probe import IPAddress, ProbeOutcome, ProbeRecord
from mtuscope.active.quote_diff import MSS_FIELD, FieldChange, Value


class MiddleboxStop(StrEnum):
    """Why the walk ended."""

    REACHED = "reached"
    """The destination (or something answering for it) sent a SYN/ACK or RST."""
    UNREACHABLE = "unreachable"
    """A hop answered with destination-unreachable: the path ends there."""
    HOP_LIMIT = "hop-limit"
    """Nothing answered for the destination up to `max_ttl`."""
    BUDGET = "budget"
    """The probe budget ran out first."""
    TIME_LIMIT = "time-limit"
    """The driver's wall-clock bound ran out first."""
    LOCAL_ERROR = "local-error"
    """The local host refused to send."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HopQuote:
    """What one TTL showed."""

    ttl: int
    address: IPAddress | None
    """The router that answered; None when every attempt was lost."""
    probe_id: int | None
    """The probe whose reply this is (the last one sent, when all were lost)."""
    outcome: ProbeOutcome
    quote_bytes: int
    """Bytes of the quoted packet (0 when there was no quote)."""
    changed: tuple[FieldChange, ...] = ()
    compared: tuple[str, ...] = ()
    too_short: bool = False
    """A quote arrived but ends inside the TCP header: its options tell nothing."""

    @property
    def changed_map(self) -> dict[str, tuple[Value, Value]]:
        """`{field: (sent, seen)}`, as DESIGN.md's `middlebox.hops[].changed`."""
        return {c.field: (c.sent, c.seen) for c in self.changed}


@dataclass(frozen=True, slots=True, kw_only=True)
class PathChange:
    """A field that changed along the path, and the two hops it changed between."""

    field: str
    before: Value
    """Its value up to `from_ttl` (the sent value when `from_ttl` is 0)."""
    after: Value
    """Its value from `to_ttl` on."""
    from_ttl: int
    """Last hop that quoted `before`; 0 means the sender itself."""
    from_address: IPAddress | None
    to_ttl: int
    """First hop that quoted `after`."""
    to_address: IPAddress | None
    probe_id: int
    """The probe whose quote at `to_ttl` shows the change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The destination's answer to a SYN probe."""

    probe_id: int
    ttl: int
    """TTL of the probe that got it."""
    address: IPAddress | None
    syn_ack: bool
    """True for a SYN/ACK, False for an RST."""
    reply_ttl: int | None
    """TTL / hop limit the answer arrived with."""
    fields: tuple[tuple[str, Value], ...] = ()
    """Its option fields (`option_fields`), empty for an RST."""

    @property
    def mss(self) -> int | None:
        """The MSS option the answer carried, in bytes."""
        value = dict(self.fields).get(MSS_FIELD)
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminated:
    """The TCP answer came from a hop that is not the end of the path for other traffic."""

    ttl: int
    """The TTL at which TCP got its answer, and at which an echo was still time-exceeded."""
    address: IPAddress | None
    """The router that sent that time-exceeded: the proxy's own address."""
    probe_id: int
    """The echo probe."""
    syn_ack_probe: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MiddleboxResult:
    """Everything one walk found; frozen."""

    dst: IPAddress
    dport: int
    family: int
    hops: tuple[HopQuote, ...]
    """One per TTL before the destination's (or the last probed), in order."""
    changes: tuple[PathChange, ...]
    """Every field change along the path, by hop then header order."""
    response: Response | None
    """The destination's SYN/ACK or RST (the first one, at the smallest TTL)."""
    terminated: Terminated | None
    """Set when a TCP proxy answered for the destination."""
    relay_checked: bool
    """True when the echo check ran to an answer (reply or time-exceeded)."""
    tcp_end: TcpEnd | None = None
    """The destination's TCP answer with the two echoes that tell who sent it (the
    TCP proxy check, diagnose/rules/tcp_proxy.py); None when TCP got no answer."""
    stop_reason: MiddleboxStop
    probes: tuple[ProbeRecord, ...]
    seconds: float | None
    """Driver-clock seconds from the first probe to the end."""

    @property
    def reached(self) -> bool:
        """True when something answered the SYN for the destination."""
        return self.response is not None

    @property
    def answered(self) -> int:
        """How many of `probes` got any reply."""
        return sum(1 for r in self.probes if r.reply is not None)


def path_changes(hops: tuple[HopQuote, ...]) -> tuple[PathChange, ...]:
    """Where along the path each field changed: walk the hops in TTL order.

    A field keeps its last known value across hops that did not quote it (too
    short, or lost); a change is placed between the last hop that quoted the old
    value (0: the sender) and the first that quoted the new one. A field that
    changes back (a box that restores it) is a second change.

    Args:
        hops: per-TTL quotes, in TTL order.

    Returns:
        The changes, by hop then header order.
    """
    # Per field: its value at the last hop that quoted it (None: as sent), that hop's
    # TTL and address, and the sent value once any change revealed it.
    last: dict[str, tuple[Value | None, int, IPAddress | None]] = {}
    sent_value: dict[str, Value] = {}
    out: list[PathChange] = []
    for hop in hops:
        if hop.probe_id is None:
            continue
        seen = {c.field: c.seen for c in hop.changed}
        sent_value.update({c.field: c.sent for c in hop.changed})
        for name in hop.compared:
            value, from_ttl, from_addr = last.get(name, (None, 0, None))
            now = seen.get(name)
            if now != value:
                before = value if value is not None else sent_value[name]
                after = now if now is not None else sent_value[name]
                out.append(
                    PathChange(
                        field=name,
                        before=before,
                        after=after,
                        from_ttl=from_ttl,
                        from_address=from_addr,
                        to_ttl=hop.ttl,
                        to_address=hop.address,
                        probe_id=hop.probe_id,
                    )
                )
            last[name] = (now, hop.ttl, hop.address)
    return tuple(out)
