"""The calc job: MTU and MSS through an encapsulation stack, or which stacks explain an MTU.

Layer: jobs/. Checks what the user typed (`CalcOptions`), calls calc/'s pure
arithmetic and returns a typed `CalcReport`; report/calc_json and
report/calc_text render it. No I/O here either: the calculator needs none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mtuscope.calc.conventions import Convention, conventions_for_ip_mtu
from mtuscope.calc.explain import Explanation, explain_mtu, nearest_stacks
from mtuscope.calc.layer_types import LAYER_TYPES
from mtuscope.calc.snippets import PLATFORMS, render
from mtuscope.calc.stack import StackResult, compute, mss_for, parse_layers
from mtuscope.errors import UsageError
from mtuscope.jobs.inputs import check_family, check_platform
from mtuscope.jobs.result import JobResult

__all__ = [
    "PLATFORMS",
    "CalcMode",
    "CalcOptions",
    "CalcReport",
    "Recommended",
    "Snippet",
    "calc",
    "layer_summaries",
]


class CalcMode(StrEnum):
    """Which question the calculator answers (JSON `mode`)."""

    STACK = "stack"
    """A stack of layers over a link: what MTU and MSS are left?"""
    EXPLAIN = "explain"
    """An observed MTU: which stacks produce it?"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CalcOptions:
    """What to compute, as the user asked it (checked on construction)."""

    layers: tuple[str, ...] = ()
    """Layer specs, outer to inner (``"gre:key"``); empty for the plain link."""
    link_mtu: int = 1500
    """IP MTU of the physical link, bytes."""
    inner_family: int = 4
    """Family of the packets the stack carries: 4 or 6."""
    outer_family: int = 4
    """Delivery family of tunnels that name none: 4 or 6."""
    timestamps: bool = False
    """TCP timestamps on (12 bytes less data per segment)."""
    platform: str | None = None
    """Only this platform's snippet (aliases allowed); None for all of them."""
    interface: str = "<iface>"
    """Interface name put into the snippets."""
    explain_mtu: int | None = None
    """Ask the reverse question for this MTU instead of computing a stack."""
    from_mtu: int | None = None
    """With `explain_mtu`: the MTU before the drop (default: `link_mtu`)."""
    limit: int = 10
    """With `explain_mtu`: at most this many explanations."""

    def __post_init__(self) -> None:
        check_platform(self.platform)
        check_family(self.inner_family)
        check_family(self.outer_family)
        if self.explain_mtu is not None and self.layers:
            raise UsageError("give either layers or --explain-mtu, not both")
        if self.explain_mtu is None and self.from_mtu is not None:
            raise UsageError("--from-mtu only goes with --explain-mtu")

    @property
    def mode(self) -> CalcMode:
        """The question asked."""
        return CalcMode.STACK if self.explain_mtu is None else CalcMode.EXPLAIN


@dataclass(frozen=True, slots=True, kw_only=True)
class Snippet:
    """Configuration lines for one platform."""

    platform: str
    """Canonical platform name (one of `calc.snippets.PLATFORMS`)."""
    text: str
    """The lines, setting the interface MTU and clamping the MSS."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommended:
    """What to configure: the interface or tunnel MTU and the MSS clamps."""

    interface_mtu: int
    """Bytes."""
    mss_clamp_ipv4: int
    """Bytes."""
    mss_clamp_ipv6: int | None
    """Bytes; None when the MTU is below IPv6's minimum of 1280."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CalcReport(JobResult):
    """The calculator's answer (report kind "calc")."""

    mode: CalcMode
    """Which question was answered."""
    link_mtu: int
    """Stack: the link MTU; explain: the MTU before the drop."""
    ip_mtu: int
    """Stack: the inner IP MTU; explain: the observed MTU."""
    mss_ipv4: int
    """The IPv4 MSS that fits `ip_mtu`."""
    mss_ipv6: int | None
    """The IPv6 MSS that fits `ip_mtu`; None below 1280."""
    overhead: int
    """link_mtu - ip_mtu, bytes."""
    stack: StackResult | None = None
    """Stack mode: the computed stack, layer by layer."""
    outer_family: int = 4
    """Stack mode: delivery family of tunnels that name none."""
    explanations: tuple[Explanation, ...] | None = None
    """Explain mode: the stacks that produce `ip_mtu`, most common first."""
    conventions: tuple[Convention, ...] = ()
    """Explain mode: the configuration conventions that set `ip_mtu` (e.g. Cisco's
    `ip mtu 1400` for GRE over IPsec), with their sources."""
    nearest: tuple[Explanation, ...] = ()
    """Explain mode, when no stack matches exactly: the nearest common stacks, each with
    its `difference` in bytes."""
    snippets: tuple[Snippet, ...]
    """Configuration lines, one per platform asked for."""

    @property
    def recommended(self) -> Recommended:
        """What to configure: `ip_mtu` on the interface, the MSS clamps that fit it."""
        return Recommended(
            interface_mtu=self.ip_mtu, mss_clamp_ipv4=self.mss_ipv4, mss_clamp_ipv6=self.mss_ipv6
        )


def calc(opts: CalcOptions) -> CalcReport:
    """Answer the calculator's question.

    Args:
        opts: the checked options.

    Returns:
        The report: the stack (stack mode) or the explanations (explain mode),
        with the recommended MTU/MSS and the platform snippets.

    Raises:
        UsageError: an unknown layer, an impossible stack, absurd numbers.
    """
    platform = check_platform(opts.platform)
    platforms = (platform,) if platform else PLATFORMS
    if opts.explain_mtu is not None:
        mtu = opts.explain_mtu
        from_mtu = opts.from_mtu if opts.from_mtu is not None else opts.link_mtu
        found = explain_mtu(mtu, from_mtu=from_mtu, limit=opts.limit)
        mss4, mss6 = mss_for(mtu)
        return CalcReport(
            kind="calc",
            inputs=(f"--explain-mtu {mtu}", f"--from-mtu {from_mtu}"),
            mode=CalcMode.EXPLAIN,
            link_mtu=from_mtu,
            ip_mtu=mtu,
            mss_ipv4=mss4,
            mss_ipv6=mss6,
            overhead=from_mtu - mtu,
            explanations=found,
            conventions=conventions_for_ip_mtu(mtu),
            nearest=nearest_stacks(mtu, from_mtu=from_mtu) if not found else (),
            snippets=_snippets(platforms, mtu, mss4, mss6, opts.interface),
        )
    layers = parse_layers(opts.layers, outer_family=opts.outer_family)
    result = compute(
        opts.link_mtu, layers, inner_family=opts.inner_family, tcp_timestamps=opts.timestamps
    )
    mtu, mss4, mss6 = result.ip_mtu, result.mss_ipv4, result.mss_ipv6
    return CalcReport(
        kind="calc",
        inputs=(f"--link-mtu {opts.link_mtu}", *(r.name for r in result.layers)),
        mode=CalcMode.STACK,
        link_mtu=result.link_mtu,
        ip_mtu=mtu,
        mss_ipv4=mss4,
        mss_ipv6=mss6,
        overhead=result.overhead,
        stack=result,
        outer_family=opts.outer_family,
        snippets=_snippets(platforms, mtu, mss4, mss6, opts.interface),
    )


def layer_summaries() -> tuple[tuple[str, str], ...]:
    """(name, one-line summary) of every layer the calculator knows, for help texts."""
    return tuple((t.name, t.summary) for t in LAYER_TYPES.values())


def _snippets(
    platforms: tuple[str, ...], mtu: int, mss4: int, mss6: int | None, iface: str
) -> tuple[Snippet, ...]:
    return tuple(
        Snippet(
            platform=p,
            text=render(p, ip_mtu=mtu, mss_ipv4=mss4, mss_ipv6=mss6, interface=iface),
        )
        for p in platforms
    )
