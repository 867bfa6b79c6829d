"""Path MTU search toward one host: too-big messages when they come, a search when not.

Layer: active/. A sans-IO engine (see engine.py): no sockets, no sleeping, no clock.

Round one sends every size of a modern MTU table at once (plus the interface
MTU). A too-big message refuses its size at once (RFC 1191 §3, RFC 8201 §4),
and the MTU it quotes is checked in the next round as the pair `m` and `m + 1`,
so a path whose routers send too-big messages is measured in two round trips.
Without them the search goes on over the silent interval. When the largest
size that got through is a table entry (the likeliest black hole: 1400 through,
1420 and up silent), the byte above it is tried first, `attempts + 1` times:
three silent probes of 1401 prove 1400 in one round of three probes (one more than
`attempts`, since no probe of the interior is there to overrule a loss). Otherwise, or when
that byte gets through: every size when few (`width`) are left, likely MTUs or
`width` evenly spaced sizes otherwise, until the answer is exact to the byte. A
size counts as not getting through after `attempts` silent probes at or below
it, so a lost probe is not mistaken for a filter (bounds.py); a black hole is
only reported with its byte above silent `attempts` times.

How long a probe waits before it counts as silent is the engine's timeout: with
the run's `RttEstimator` (rtt.py) it follows the RTT of the destination's own
answers (TCP's RTO, at least 3 smoothed RTTs, within `Limits.min_timeout` and
`Limits.timeout`), so the silent sizes of round one are given up a few round
trips after the small ones were answered, not after a fixed second.

Useless too-big messages (MTU 0 as in pre-RFC 1191 routers, below the
protocol minimum, not below the size refused, or below a size that got
through) still say "this size did not get through"; only their MTU is
ignored. The reported path MTU is always the size of a probe that got
through, never a number taken from a message.

Round one also carries the smallest size, `attempts` times, first: if even those
stay silent, nothing of this kind gets through (ICMP_FILTERED) after one timeout,
not after a search down through every size. That verdict waits out
`NEIGHBOUR_GRACE` from the start, since a destination that is not there draws a
host-unreachable only once the last router's neighbour discovery gives up. A
destination-unreachable (host, net, administratively prohibited, a port refused
by a box on the way) ends the search at once (UNREACHABLE): it says nothing
about sizes, and every further probe would draw the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mtuscope.active.bounds import SizeBounds
from mtuscope.active.engine import Limits
from mtuscope.active.probe import (
    IPAddress,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    SearchStop,
    min_probe_size,
)
from mtuscope.active.rtt import RttEstimator
from mtuscope.active.size_engine import ProbeEngine, ProbeRun
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET, MIN_MTU

MODERN_TABLE: tuple[int, ...] = (
    1280,  # IPv6 minimum (RFC 8200 §5)
    1380,  # common clamps, GRE+IPsec
    1400,  # IPsec, many VPNs
    1420,  # WireGuard over IPv4 (1500 - 80 budgeted for IPv6 outer)
    1440,  # WireGuard IPv4 outer, IPsec
    1450,  # VXLAN over IPv4
    1460,
    1472,  # 1500 - IPv4 - ICMP: the classic ping -s 1472
    1476,  # GRE over IPv4
    1480,  # 6in4 / IPIP
    1492,  # PPPoE (RFC 2516)
    1500,  # Ethernet
    9000,  # jumbo frames
)
"""Sizes of round one, from the encapsulations seen on today's paths."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PathMtuResult(ProbeRun):
    """The path MTU toward one destination and every probe behind it.

    `stop_reason`: CONVERGED, BLACKHOLE, ICMP_FILTERED, HOP_LIMIT, UNREACHABLE, BUDGET, TIME
    or ERROR.
    """

    path_mtu: int | None
    """Largest packet size that got through, in bytes; None if no probe was answered.
    The path MTU only when `exact`; a search cut short knows it lies in `bounds`."""
    too_big_mtu: int | None
    """Smallest MTU quoted by a too-big message that fits the answer, if any came. Quotes
    below a size that got through are lies; their probes are filed as TOO_BIG_BOGUS."""
    ceiling: int
    """Largest size probed (the interface MTU)."""
    floor: int
    """Smallest size probed."""
    upper: int | None = None
    """Largest size that may still get through (the upper bound the search ended with);
    None: not known (an old record), taken as the ceiling."""

    @property
    def exact(self) -> bool:
        """True when `path_mtu` is the path MTU to the byte (the search CONVERGED or found
        a BLACKHOLE with a size that got through); False for a search cut short."""
        return self.path_mtu is not None and self.stop_reason in EXACT_STOPS

    @property
    def bounds(self) -> tuple[int | None, int]:
        """`(lo, hi)`: the path MTU lies in `lo..hi` (`lo` None: no size got through).
        Both are `path_mtu` when exact."""
        if self.exact and self.path_mtu is not None:
            return self.path_mtu, self.path_mtu
        hi = self.ceiling if self.upper is None else self.upper
        return self.path_mtu, max(hi, self.path_mtu or hi)


EXACT_STOPS = frozenset({SearchStop.CONVERGED, SearchStop.BLACKHOLE})
"""The stop reasons whose answer is exact to the byte."""


class PathMtuSearch(ProbeEngine[PathMtuResult]):
    """The path MTU search (a sans-IO engine).

    A local refusal ends it (ERROR), and so does a time-exceeded (HOP_LIMIT: the
    destination lies beyond `ttl`), before any size is concluded.

    Args:
        dst: the destination.
        ceiling: largest size to probe: the interface MTU toward `dst`.
        kind: probe kind; TCP_SYN pads a SYN with payload, for hosts that answer one port.
        dport: destination port for UDP and TCP_SYN.
        floor: smallest size to probe; defaults to the protocol minimum (68 / 1280).
        table: sizes for round one (those between floor and ceiling are used).
        width: at most this many new sizes per later round (fewer sizes, more rounds:
            8 keeps both small while the rate limit paces the probes).
        ttl: TTL / hop limit of every probe.
        limits: timeout, rate, burst, budget, attempts.
        first_id: id of the first probe (engines sharing a transport need distinct ids).
        rtt: the path's RTT estimate, for a timeout adapted to it (rtt.py); None: every
            probe waits `limits.timeout`.

    Raises:
        UsageError: floor above ceiling, a ceiling below the minimum probe, or a bad target.
    """

    def __init__(
        self,
        *,
        dst: IPAddress,
        ceiling: int = 1500,
        kind: ProbeKind = ProbeKind.ECHO,
        dport: int | None = None,
        floor: int | None = None,
        table: tuple[int, ...] = MODERN_TABLE,
        width: int = 8,
        ttl: int = 64,
        limits: Limits | None = None,
        first_id: int = 1,
        rtt: RttEstimator | None = None,
    ) -> None:
        super().__init__(dst=dst, kind=kind, dport=dport, limits=limits, first_id=first_id, rtt=rtt)
        low = max(MIN_MTU[self.family], min_probe_size(self.family, kind))
        self.floor = low if floor is None else floor
        self.ceiling = ceiling
        if not low <= self.floor <= self.ceiling <= MAX_IP_PACKET:
            raise UsageError(
                f"need {low} <= floor {self.floor} <= ceiling {ceiling} <= {MAX_IP_PACKET}"
            )
        if width < 1 or not 1 <= ttl <= 255:
            raise UsageError("width must be at least 1 and ttl within 1..255")
        self.width = width
        self.ttl = ttl
        self._table = sorted({s for s in (*table, ceiling) if self.floor <= s <= ceiling})
        self.bounds = SizeBounds(floor=self.floor, ceiling=ceiling, attempts=self.limits.attempts)
        self._rounds = 0

    WHAT = "the path MTU search"

    STOPS = {
        ProbeOutcome.LOCAL_ERROR: SearchStop.ERROR,
        ProbeOutcome.TIME_EXCEEDED: SearchStop.HOP_LIMIT,
        ProbeOutcome.UNREACHABLE: SearchStop.UNREACHABLE,
    }

    def _plan(self) -> list[tuple[int, int]]:
        self._rounds += 1
        if self._rounds == 1:
            # The floor first, `attempts` times: the quick test of "nothing gets through".
            floor = [self.floor] * (self.limits.attempts - self._table.count(self.floor))
            return [(s, self.ttl) for s in (*floor, *self._table)]
        sizes = self.bounds.next_sizes(self.width, table=tuple(self._table))
        return [(s, self.ttl) for s in sizes]

    def _observe(self, record: ProbeRecord) -> None:
        size, outcome = record.probe.size, record.outcome
        if outcome is ProbeOutcome.REACHED:
            self.bounds.reached(size)
        elif outcome is ProbeOutcome.TOO_BIG and record.reply is not None:
            self.bounds.refused(size, record.reply.mtu)
        elif outcome is ProbeOutcome.TOO_BIG_BOGUS:
            self.bounds.refused(size)
        elif outcome is ProbeOutcome.LOST:
            self.bounds.lost(size)

    def _settled(self) -> SearchStop | None:
        b = self.bounds
        if not b.converged:
            return None
        if not b.any_reached:
            # Nothing at or above the floor passed: filtered, unless a too-big explains it.
            if b.hi_explicit and not b.by_silence:
                return SearchStop.CONVERGED
            return SearchStop.ICMP_FILTERED
        return SearchStop.BLACKHOLE if b.by_silence else SearchStop.CONVERGED

    def _hold_until(self) -> float | None:
        # Silence from everyone may still turn into a host-unreachable (NEIGHBOUR_GRACE).
        if self.started_at is None or any(r.reply for r in self._records.values()):
            return None
        return self.started_at + self.grace

    def _result(self) -> PathMtuResult:
        path_mtu = self.bounds.lo if self.bounds.any_reached else None
        probes = self.records
        if path_mtu is not None:
            # A quoted MTU below a size that got through was a lie: file it as useless.
            probes = tuple(
                replace(r, outcome=ProbeOutcome.TOO_BIG_BOGUS)
                if r.outcome is ProbeOutcome.TOO_BIG and r.reply and (r.reply.mtu or 0) < path_mtu
                else r
                for r in probes
            )
        quoted = [
            r.reply.mtu
            for r in probes
            if r.outcome is ProbeOutcome.TOO_BIG and r.reply and r.reply.mtu is not None
        ]
        return self._build(
            PathMtuResult,
            probes=probes,
            path_mtu=path_mtu,
            too_big_mtu=min(quoted) if quoted else None,
            ceiling=self.ceiling,
            floor=self.floor,
            upper=self.bounds.limit() - 1,
        )
