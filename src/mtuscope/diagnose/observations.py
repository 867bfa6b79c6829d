"""What the path verbs measured, as diagnose/ takes it: one input for probe, trace and sweep.

Layer: diagnose/. Pure data. A `probe` fills `search` (and usually `trace` and
`mss`); a `trace` fills only `trace`; a `sweep` fills only `sweep`. Rules read
what is there and never need a result that was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.hop_trace import HopTraceResult
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.sweep import SweepResult
from mtuscope.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class PathObservations:
    """Everything one path run measured toward one destination."""

    dst: IPv4Address | IPv6Address
    """The address probed."""
    port: int | None = None
    """The TCP port of the MSS measurement (or the probes' port), if any."""
    search: PathMtuResult | None = None
    """The path MTU search (`probe`)."""
    trace: HopTraceResult | None = None
    """The hop trace (`probe`, `trace`)."""
    sweep: SweepResult | None = None
    """The DF sweep (`sweep`)."""
    mss: MssObservation | None = None
    """The MSS measurements (`probe --port`)."""

    def __post_init__(self) -> None:
        for name, part in (("search", self.search), ("trace", self.trace), ("sweep", self.sweep)):
            if part is not None and part.dst != self.dst:
                raise UsageError(
                    f"the {name} is toward {part.dst}, the observations toward {self.dst}"
                )
        if self.mss is not None and self.mss.family != self.dst.version:
            raise UsageError(
                f"MSS observed over IPv{self.mss.family}, path over IPv{self.dst.version}"
            )

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.dst.version
