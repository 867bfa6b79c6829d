"""The middlebox job: walk the path with TTL-limited SYNs and say which hop changed what.

Layer: jobs/. Checks the options once (`jobs.inputs`), resolves the host, opens
the raw-socket transport, drives the sans-IO `MiddleboxTrace` within a time
bound, and hands its result to diagnose/. The CLI (`mtuscope middlebox`), the
server and the agent call `middlebox` the same way.

A walk its bounds cut short is still a result: it says why it stopped
(`stop_reason` "budget" or "time-limit") and carries a warning; only a missing
privilege or route is an error (exit 3).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.active.engine import Limits
from mtuscope.active.middlebox import MiddleboxTrace
from mtuscope.active.middlebox_result import MiddleboxResult, MiddleboxStop
from mtuscope.active.probe import IPAddress
from mtuscope.active.transport import DriveStop, RawTransport, drive
from mtuscope.diagnose.middlebox import diagnose_middlebox
from mtuscope.errors import UsageError
from mtuscope.jobs.inputs import check_family, check_platform, parse_port, resolve
from mtuscope.jobs.result import JobResult

MAX_TIMEOUT = 10.0
"""Longest wait per probe a user may ask for, seconds."""
_RATE = 200.0
"""Probes per second the walk paces itself to (engine `Limits`)."""
_BURST = 16
_SLACK = 5.0
"""Seconds of the time bound beyond the worst case of lost probes."""

_CUT_SHORT = {
    DriveStop.PROBE_BUDGET: MiddleboxStop.BUDGET,
    DriveStop.WALL_CLOCK: MiddleboxStop.TIME_LIMIT,
}
"""The driver's reason for stopping a walk early -> the walk's own stop reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MiddleboxOptions:
    """What to walk toward, and how; checked when made (UsageError)."""

    host: str
    """The destination as typed: an address or a name."""
    port: int
    """Its TCP port, 1..65535."""
    family: int | None = None
    """4 or 6 to resolve `host` in one family only; None for either."""
    max_ttl: int = 16
    """Highest TTL tried, 1..255."""
    timeout: float = 0.5
    """Seconds to wait per probe, more than 0 and at most `MAX_TIMEOUT`."""
    src: str | None = None
    """Source address (default: the route's)."""
    iface: str | None = None
    """Send and receive on this interface only."""
    proxy_check: bool = True
    """Send the ICMP echo that tells a TCP proxy from the destination."""
    platform: str | None = None
    """A configuration platform for the advice (aliases allowed; stored canonical)."""

    def __post_init__(self) -> None:
        parse_port(self.port, what="--port")
        check_family(self.family)
        if not 1 <= self.max_ttl <= 255:
            raise UsageError(f"--max-ttl {self.max_ttl}: want 1..255")
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise UsageError(
                f"--timeout {self.timeout}: want more than 0 and at most {MAX_TIMEOUT:g} seconds"
            )
        # A frozen dataclass: the canonical platform name replaces the alias once, here.
        object.__setattr__(self, "platform", check_platform(self.platform))


@dataclass(frozen=True, slots=True, kw_only=True)
class MiddleboxReport(JobResult):
    """A middlebox walk: the engine's result, the target as typed, the findings."""

    kind: str = "middlebox"
    target: str
    """The destination as typed (the resolved address is `walk.dst`, the port `walk.dport`)."""
    walk: MiddleboxResult
    """What each TTL showed, the changes along the path, the destination's answer."""


def own_source(src: str, family: int) -> IPAddress:
    """`--src` checked: an address of this host (of the network namespace the process runs
    in), of the destination's family. The walk builds its SYNs itself, so without this
    check it would send them from any address typed (spoofed).

    Args:
        src: the address as typed.
        family: the destination's family, 4 or 6.

    Returns:
        The address.

    Raises:
        UsageError: not an address, of the other family, or not one of this host's.
    """
    try:
        address = ip_address(src)
    except ValueError:
        raise UsageError(f"--src {src!r}: not an IP address") from None
    if address.version != family:
        raise UsageError(f"--src {address}: not an IPv{family} address like the destination")
    sock_family = socket.AF_INET if family == 4 else socket.AF_INET6
    # The kernel binds a socket only to an address of its own (EADDRNOTAVAIL otherwise,
    # without IP_FREEBIND): that is the test, and nothing is sent.
    with socket.socket(sock_family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((str(address), 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(
                    f"--src {address}: not an address of this host (give one of its own "
                    "addresses, or leave --src out)"
                ) from None
            raise UsageError(f"--src {address}: cannot use it: {exc.strerror}") from exc
    return address


def middlebox(opts: MiddleboxOptions) -> MiddleboxReport:
    """Walk the path to `opts.host` port `opts.port` with TTL-limited SYNs.

    Args:
        opts: checked options.

    Returns:
        The report (kind "middlebox"); a walk cut short by its bounds has its
        stop reason and a warning.

    Raises:
        UsageError: the host does not resolve (in the family asked for), or `src` is
            not an address of this host.
        RawSocketDenied: no root / CAP_NET_RAW.
        ProbeError: no route, or the transport failed.
    """
    dst = resolve(opts.host, opts.family)
    src = own_source(opts.src, dst.version) if opts.src is not None else None
    limits = Limits(timeout=opts.timeout, rate=_RATE, burst=_BURST, budget=4 * opts.max_ttl + 4)
    engine = MiddleboxTrace(
        dst=dst,
        dport=opts.port,
        max_ttl=opts.max_ttl,
        limits=limits,
        check_relay=opts.proxy_check,
    )
    # Worst case: every TTL lost on every attempt, one window after another.
    bound = (opts.max_ttl + 1) * limits.attempts * limits.timeout + _SLACK
    with RawTransport(dst.version, src=src, iface=opts.iface) as transport:
        run = drive(engine, transport, max_seconds=bound, max_probes=limits.budget + 2)
    warnings: tuple[str, ...] = ()
    if run.result is None:
        stop = _CUT_SHORT[run.stop]
        engine.halt(run.ended_at, stop)
        warnings = (
            f"the walk to {dst} port {opts.port} stopped early ({run.stop.value}): "
            "the hops after the last one shown were not probed",
        )
    walk = engine.result()
    return MiddleboxReport(
        inputs=(f"{opts.host} port {opts.port}",),
        findings=diagnose_middlebox(walk, platform=opts.platform),
        warnings=warnings,
        target=opts.host,
        walk=walk,
    )
