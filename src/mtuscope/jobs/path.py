"""What the path jobs (probe, trace, sweep) share: options, the run, the report.

Layer: jobs/. The run (`PathRun`) resolves the target (`jobs.inputs.resolve`),
chooses the transport, reads the one clock, keeps the probe budget and the
wall-clock cap over every engine of the job, and drives each engine through
`active.transport.drive`. The engines and diagnose/ decide what a probe shows;
this floor only orchestrates, and only ever probes the one target it was given.

Transport choice: raw sockets when the process has root or CAP_NET_RAW (every
probe kind, the SYN/ACK's MSS option); otherwise the unprivileged UDP transport
(UDP probes only, like tracepath), and what could not be done goes to the
report's warnings. `raw=True` makes a missing privilege an error
(`RawSocketDenied`, exit 3) instead.

A spent budget or --max-seconds is a result, not an error: the engine is halted
with `SearchStop.BUDGET` or `SearchStop.TIME`, its partial answer is kept, and a
warning says so. So is SIGINT or SIGTERM (the CLI turns both into
`KeyboardInterrupt`): the engine being driven is halted with
`SearchStop.INTERRUPTED`, no further engine starts, and the report is built from
what was measured. A search cut short reports no path MTU, only the bounds it
knows (`PathReport.pmtu_bounds`), and is inconclusive, never "no problem".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from mtuscope.active.engine import Limits
from mtuscope.active.hop_trace import HopTraceResult
from mtuscope.active.matching import MAX_FLOWS
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import (
    Datagram,
    IPAddress,
    PortState,
    Probe,
    ProbeKind,
    ProbeRecord,
    Reply,
    SearchStop,
    port_state,
)
from mtuscope.active.rtt import MIN_TIMEOUT, RttEstimator
from mtuscope.active.size_engine import ProbeTotals
from mtuscope.active.sweep import SweepResult
from mtuscope.active.transport import (
    DriveStop,
    RawTransport,
    UdpTransport,
    drive,
    has_cap_net_raw,
    interface_mtu,
)
from mtuscope.active.transport.driver import Engine
from mtuscope.diagnose.observations import CUT_SHORT, PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.errors import RawSocketDenied, UsageError
from mtuscope.jobs.inputs import check_family, check_platform, parse_port, resolve
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.result import JobResult
from mtuscope.jobs.two_ended import TwoEndedReport
from mtuscope.wire.sizes import MAX_IP_PACKET

UDP_PORT = 33434
"""Destination port of UDP probes when none is given (traceroute's, usually closed)."""

KINDS: dict[str, ProbeKind] = {
    "echo": ProbeKind.ECHO,
    "udp": ProbeKind.UDP,
    "tcp": ProbeKind.TCP_SYN,
}
"""`--kind` words and the probe kinds they select."""


def probe_kind(word: str | None) -> ProbeKind | None:
    """The probe kind a `--kind` word names (None: the job's default).

    Raises:
        UsageError: an unknown word.
    """
    if word is None:
        return None
    if word not in KINDS:
        raise UsageError(f"--kind {word!r}: want one of {', '.join(KINDS)}")
    return KINDS[word]


@dataclass(frozen=True, slots=True, kw_only=True)
class PathOptions:
    """What to probe and how hard (the flags `probe`, `trace` and `sweep` share)."""

    host: str
    """Host name or address, as the user typed it."""
    family: int | None = None
    """4 or 6 to force one family; None takes the first address the resolver gives."""
    port: int | None = None
    """TCP port for the MSS measurement (and TCP probes), or the UDP probes' port."""
    kind: ProbeKind | None = None
    """The probe kind; None: TCP SYN with a port, else ICMP echo."""
    rate: float = 20.0
    """Probes per second to the target, sustained (the engines' pacing)."""
    timeout: float = 1.0
    """Seconds to wait for each probe's reply at most: the search and the trace wait
    this long until the destination has answered, then a timeout adapted to its RTT
    (active/rtt.py: TCP's RTO, at least 3 smoothed RTTs, within 0.2 s and this)."""
    budget: int = 200
    """Probes in total, over every engine of the run."""
    max_seconds: float = 60.0
    """Wall-clock cap of the whole run, seconds."""
    platform: str | None = None
    """A `calc.snippets` platform (canonical name) for configuration lines in the advice."""
    flow: int | None = None
    """A flow id (0..63): every probe of the run leaves from the flow's one source port
    (Paris-traceroute style), so the run follows one ECMP branch; None: ports vary."""
    unprivileged: bool = False
    """Use the UDP transport even with the privilege for raw sockets."""
    raw: bool = False
    """Insist on raw sockets: fail (exit 3) without the privilege."""
    on_probe: Callable[[ProbeRecord, float], None] | None = field(default=None, compare=False)
    """Called with each probe's record as soon as it is filed (answered, lost or
    cancelled), and the driver time of the run's first probe (the CLI's `-v`)."""

    def __post_init__(self) -> None:
        check_family(self.family)
        if self.port is not None:
            parse_port(self.port, what="--port")
        if self.kind is not None and not isinstance(self.kind, ProbeKind):
            raise UsageError(f"probe kind {self.kind!r}: want one of {', '.join(KINDS)}")
        if not (self.rate > 0 and self.timeout > 0 and self.max_seconds > 0) or self.budget < 1:
            raise UsageError("--rate, --timeout, --max-seconds must be positive, --budget >= 1")
        if self.kind is ProbeKind.TCP_SYN and self.port is None:
            raise UsageError("--kind tcp needs --port")
        if self.unprivileged and self.raw:
            raise UsageError("--raw and --unprivileged exclude each other")
        if self.flow is not None and not 0 <= self.flow < MAX_FLOWS:
            raise UsageError(f"flow {self.flow}: want 0..{MAX_FLOWS - 1}")
        # The canonical name (aliases allowed); frozen, so set through object.
        object.__setattr__(self, "platform", check_platform(self.platform))


class PathTransport(StrEnum):
    """Which transport the run used (JSON `transport`)."""

    RAW = "raw"
    """Raw sockets: every probe kind, the SYN/ACK's options."""
    UDP = "udp"
    """The unprivileged UDP socket and the kernel's error queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PathReport(JobResult):
    """The "path" report of `probe`, `trace` and `sweep` (DESIGN.md "Contracts")."""

    kind: str = "path"
    host: str
    """The target as typed."""
    observations: PathObservations
    """What was measured: the address probed, the port shown, the search, trace, sweep, MSS."""
    transport: PathTransport
    probe_kind: ProbeKind
    """The kind of probe actually sent (UDP when raw sockets were not available)."""
    pmtu: int | None
    """The path MTU the verb reports: the search's; the destination hop's (trace); the
    sweep's when exact to the byte."""
    stop_reason: SearchStop
    """Why the verb's main engine stopped (the search, the trace or the sweep)."""
    probes: ProbeTotals
    """Over the search and the trace (probe), the trace, or the sweep."""
    search: ProbeTotals | None = None
    """The path MTU search alone (probe only)."""
    two_ended: TwoEndedReport | None = None
    """The two-ended check against a responder (`probe --responder`), folded in."""
    port_state: PortState | None = None
    """What the TCP port did with the SYN probes (open, closed, filtered); None without."""

    @property
    def records(self) -> tuple[ProbeRecord, ...]:
        """Every probe behind the report, in the order sent (JSON `probes.records`, `-v`)."""
        return self.observations.records

    @property
    def dst(self) -> IPAddress:
        """The address probed."""
        return self.observations.dst

    @property
    def unreachable(self) -> ProbeRecord | None:
        """The destination-unreachable that ended the path (the search's, else the
        trace's or the sweep's), when one did; its reply has the code and the sender."""
        obs = self.observations
        for part in (obs.search, obs.trace, obs.sweep):
            if part is not None and part.stop_reason is SearchStop.UNREACHABLE:
                found = part.unreachable
                if found is not None:
                    return found
        return None

    @property
    def pmtu_bounds(self) -> tuple[int | None, int] | None:
        """`(lo, hi)`: the path MTU lies in `lo..hi` bytes; both `pmtu` when exact; None
        when nothing bounds it."""
        if self.pmtu is not None:
            return self.pmtu, self.pmtu
        return self.observations.pmtu_bounds

    @property
    def cut_short(self) -> bool:
        """The search stopped (budget, time, interrupt) before it knew the path MTU."""
        return self.pmtu is None and self.stop_reason in CUT_SHORT

    @property
    def inconclusive(self) -> str | None:
        """Why the report cannot say "no problem" (the search was cut short: budget,
        time, interrupt; or nothing could be measured: unreachable, filtered, beyond the
        hop limit), or None when its verdict stands."""
        if self.pmtu is not None:
            return None
        if self.cut_short:
            return (
                f"the search was cut short ({self.stop_reason.value}) before it knew the path MTU"
            )
        return _UNMEASURED.get(self.stop_reason)


_UNMEASURED = {
    SearchStop.UNREACHABLE: "the destination is unreachable: no path MTU to measure",
    SearchStop.ICMP_FILTERED: "no probe was answered: no path MTU to measure",
    SearchStop.HOP_LIMIT: "the destination was not reached within the hop limit",
}
"""Stops after which the path MTU is unknown although the search finished."""


R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Halting(Engine[R_co], Protocol[R_co]):
    """An engine the run can stop from outside (every `ProbeSchedule` can)."""

    def halt(self, now: float, stop: SearchStop) -> None: ...

    @property
    def sent(self) -> int: ...

    @property
    def records(self) -> tuple[ProbeRecord, ...]: ...


class PathRun:
    """One job's shared state: target, transport, budget, the clock, warnings."""

    def __init__(self, opts: PathOptions, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Resolve the target and open the transport.

        Raises:
            UsageError: a name that does not resolve.
            RawSocketDenied: `opts.raw` without the privilege.
        """
        self.opts = opts
        self.clock = clock
        self.dst: IPAddress = resolve(opts.host, opts.family)
        # Probes are IP packets: 65535 bytes at most, whatever the interface (lo: 65536).
        self.ceiling = min(interface_mtu(self.dst), MAX_IP_PACKET)
        self.warnings: list[str] = []
        self.started = clock()
        self.sent = 0
        self.interrupted = False
        """True once SIGINT/SIGTERM halted an engine: nothing more is started."""
        self.first_sent: float | None = None
        """Driver time of the run's first probe (the base of `-v`'s sent times)."""
        self.rtt = RttEstimator()
        """The RTT toward the target, from the destination's answers to every engine
        given it: their per-probe timeout adapts to it (active/rtt.py), within
        `PathOptions.timeout` (the cap, and the wait before the first answer)."""
        raw: RawTransport | None = None
        why = "forced by --unprivileged"
        if not opts.unprivileged:
            try:
                if not has_cap_net_raw():
                    raise RawSocketDenied("raw sockets need root or CAP_NET_RAW")
                raw = RawTransport(self.dst.version)
            except RawSocketDenied as exc:
                if opts.raw:
                    raise RawSocketDenied(f"{exc} (drop --raw to probe over UDP instead)") from exc
                why = "no root or CAP_NET_RAW"
        self.mode = PathTransport.RAW if raw is not None else PathTransport.UDP
        wanted = opts.kind or (ProbeKind.TCP_SYN if opts.port is not None else ProbeKind.ECHO)
        kind = wanted
        if raw is None and kind is not ProbeKind.UDP:
            word = next(w for w, k in KINDS.items() if k is wanted)
            self.warnings.append(
                f"{word} probes need raw sockets ({why}): probed with UDP over the kernel's "
                "error queue instead"
            )
            kind = ProbeKind.UDP
        self.kind = kind
        if kind is ProbeKind.ECHO:
            self.dport: int | None = None
        elif kind is ProbeKind.UDP:
            # A UDP probe needs a port that answers or refuses; the TCP port is neither.
            self.dport = opts.port if wanted is ProbeKind.UDP and opts.port else UDP_PORT
        else:
            self.dport = opts.port
        self.transport: RawTransport | UdpTransport = raw or UdpTransport(self.dst.version)
        if opts.flow is not None and raw is None:
            self.warnings.append(
                f"flow {opts.flow} needs raw sockets: each UDP probe left from its own port"
            )

    @classmethod
    def alone(
        cls, opts: PathOptions, what: str, engine_for: Callable[[PathRun], Halting[R]]
    ) -> tuple[PathRun, R]:
        """Open a run, drive the one engine `engine_for(run)` builds, close the run.

        Args:
            opts: the job's options.
            what: the engine, for warnings ("the sweep").
            engine_for: makes the engine from the run (target, kind, ceiling, limits).

        Returns:
            The closed run (its warnings, for the report) and the engine's result.

        """
        run = cls(opts)
        try:
            result = run.first(engine_for(run), what)
        finally:
            run.close()
        return run, result

    def first(self, engine: Halting[R], what: str) -> R:
        """Drive the run's first engine, which, unlike the later ones, is never skipped:
        with no time or budget left it is halted at once (TIME or BUDGET) and its empty
        result is the answer (a result, not an error)."""
        result = self.run(engine, what)
        if result is not None:
            return result
        stop = SearchStop.INTERRUPTED if self.interrupted else SearchStop.TIME
        if not self.interrupted and self.budget_left < 1:
            stop = SearchStop.BUDGET
        engine.halt(self.clock(), stop)
        return engine.result()

    def close(self) -> None:
        self.transport.close()

    def limits(self, budget: int, *, adaptive: bool = False) -> Limits:
        """The engines' limits: the run's rate, `budget` probes (at least 1), and a timeout.

        Args:
            budget: the engine's probes.
            adaptive: the engine is given `self.rtt` and adapts its timeout itself: the
                configured timeout is its cap. Otherwise (an engine that does not follow
                the RTT: the MSS's SYN, the proxy check's echoes) the timeout is the one
                the path's RTT gives so far (`timeout`).
        """
        o = self.opts
        timeout = o.timeout if adaptive else self.timeout
        return Limits(timeout=timeout, rate=o.rate, budget=max(1, budget), flow=o.flow)

    @property
    def timeout(self) -> float:
        """The per-probe timeout the path's RTT gives so far (active/rtt.py): the
        configured one until the destination has answered."""
        return self.rtt.timeout(floor=MIN_TIMEOUT, cap=self.opts.timeout)

    @property
    def budget_left(self) -> int:
        return self.opts.budget - self.sent

    @property
    def seconds_left(self) -> float:
        return self.opts.max_seconds - (self.clock() - self.started)

    def run(self, engine: Halting[R], what: str) -> R | None:
        """Drive `engine` within what is left of the run's budget and time.

        Args:
            engine: a fresh engine.
            what: the step, for warnings ("the hop trace").

        Returns:
            The engine's result: final, or partial (stop reason TIME or BUDGET, with a
            warning) when the run's time or budget ran out; None when nothing was left
            to start it with.
        """
        if self.interrupted:
            self.warnings.append(f"{what} skipped: interrupted")
            return None
        if INTERRUPTS.requested:
            # The signal came between engines (or before the first): stop here.
            self.interrupted = True
            engine.halt(self.clock(), SearchStop.INTERRUPTED)
            self.warnings.append(f"{what} interrupted before it started")
            return engine.result()
        if self.budget_left < 1 or self.seconds_left <= 0:
            self.warnings.append(f"{what} skipped: the probe budget or --max-seconds ran out")
            return None
        before = engine.sent
        watched: Engine[R] = engine if self.opts.on_probe is None else _Watched(engine, self)
        try:
            with INTERRUPTS.armed():
                done = drive(
                    watched,
                    self.transport,
                    max_seconds=self.seconds_left,
                    max_probes=self.budget_left,
                    clock=self.clock,
                )
        except KeyboardInterrupt:
            # SIGINT/SIGTERM: keep what the engine has, start nothing more.
            self.interrupted = True
            self.sent += engine.sent - before
            engine.halt(self.clock(), SearchStop.INTERRUPTED)
            self.warnings.append(f"{what} interrupted: its answer is partial")
            self._flush(watched)
            return engine.result()
        self.sent += done.sent
        if done.stop is DriveStop.FINISHED and done.result is not None:
            self._flush(watched)
            return done.result
        spent = "--max-seconds" if done.stop is DriveStop.WALL_CLOCK else "the probe budget"
        stop = SearchStop.TIME if done.stop is DriveStop.WALL_CLOCK else SearchStop.BUDGET
        engine.halt(done.ended_at, stop)
        self.warnings.append(f"{what} stopped early: {spent} ran out; its answer is partial")
        self._flush(watched)
        return engine.result()

    def _flush(self, watched: object) -> None:
        """Log the records a halt filed (probes cancelled in flight) for `-v`."""
        if isinstance(watched, _Watched):
            watched.emit()

    def report(
        self,
        measured: PathObservations,
        *,
        pmtu: int | None,
        stop_reason: SearchStop,
        probes: ProbeTotals,
        search: ProbeTotals | None = None,
    ) -> PathReport:
        """The run's "path" report: what was `measured`, diagnosed, with the run's warnings.

        A path MTU that is not exact is not reported (`pmtu` None): the report gives the
        bounds and, when the search was cut short, a warning saying so.
        """
        host = self.opts.host
        parts = (measured.search, measured.trace, measured.sweep)
        records = tuple(r for part in parts if part is not None for r in part.probes)
        if self.interrupted:
            # Whichever engine the signal stopped, the run as a whole was interrupted.
            stop_reason = SearchStop.INTERRUPTED
        if stop_reason in CUT_SHORT and pmtu is None:
            lo, hi = measured.pmtu_bounds or (None, self.ceiling)
            known = f"between {lo} and {hi} bytes" if lo is not None else f"at most {hi} bytes"
            self.warnings.append(
                f"inconclusive: the search was cut short ({stop_reason.value}); "
                f"the path MTU is {known}"
            )
        return PathReport(
            inputs=(host,) if host == str(self.dst) else (host, str(self.dst)),
            findings=diagnose_path(measured, platform=self.opts.platform),
            warnings=tuple(self.warnings),
            host=host,
            observations=measured,
            transport=self.mode,
            probe_kind=self.kind,
            pmtu=pmtu,
            stop_reason=stop_reason,
            probes=probes,
            search=search,
            port_state=port_state(records),
        )

    def observations(
        self,
        *,
        search: PathMtuResult | None = None,
        trace: HopTraceResult | None = None,
        sweep: SweepResult | None = None,
        mss: MssObservation | None = None,
    ) -> PathObservations:
        """The diagnosis input toward this run's target and port, with what was measured."""
        return PathObservations(
            dst=self.dst, port=self.shown_port, search=search, trace=trace, sweep=sweep, mss=mss
        )

    @property
    def shown_port(self) -> int | None:
        """The target port of the report: the one asked for, else the probes' port."""
        return self.opts.port if self.opts.port is not None else self.dport


class _Watched(Generic[R]):
    """An engine as the driver sees it, reporting each probe record once it is filed
    (for `PathOptions.on_probe`); everything else passes through."""

    def __init__(self, engine: Halting[R], run: PathRun) -> None:
        self._engine = engine
        self._run = run
        self._seen: set[int] = set()

    def emit(self) -> None:
        """Report the records filed since the last call."""
        hook = self._run.opts.on_probe
        if hook is None:
            return
        for record in self._engine.records:
            if record.probe.id in self._seen:
                continue
            self._seen.add(record.probe.id)
            if self._run.first_sent is None:
                self._run.first_sent = record.sent_at
            hook(record, self._run.first_sent)

    @property
    def finished(self) -> bool:
        return self._engine.finished

    def probes_due(self, now: float) -> Sequence[Probe]:
        due = self._engine.probes_due(now)
        if due and self._run.first_sent is None:
            self._run.first_sent = now
        return due

    def deadline(self) -> float | None:
        return self._engine.deadline()

    def packet(self, probe: Probe, *, src: IPAddress, now: float) -> bytes:
        return self._engine.packet(probe, src=src, now=now)

    def on_sent(self, probe: Probe, stamp: float) -> None:
        self._engine.on_sent(probe, stamp)

    def on_datagram(self, datagram: Datagram, now: float) -> None:
        self._engine.on_datagram(datagram, now)
        self.emit()

    def on_reply(self, reply: Reply, now: float) -> None:
        self._engine.on_reply(reply, now)
        self.emit()

    def on_timeout(self, now: float) -> None:
        self._engine.on_timeout(now)
        self.emit()

    def result(self) -> R:
        return self._engine.result()
