"""The `path` report: path MTU, hops, MSS and findings toward one host, end to end.

Layer: report/ (the orchestrator the CLI and a future server call). It picks a
transport, runs the sans-IO engines of active/ through `active.transport.drive`,
asks diagnose/ for findings and wraps everything in a `Report`. It opens no
socket itself and decides nothing about what a probe shows: the engines and
diagnose/ do. It only ever probes the one target it was given.

Transport choice: raw sockets when the process has root or CAP_NET_RAW (every
probe kind, the SYN/ACK's MSS option); otherwise the unprivileged UDP transport
(UDP probes only, like tracepath), and what could not be done goes to
`Report.warnings`. `raw=True` makes a missing privilege an error
(`RawSocketDenied`, exit 3) instead.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from mtuscope.active.engine import Limits
from mtuscope.active.hop_trace import HopTrace, HopTraceResult
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuResult, PathMtuSearch
from mtuscope.active.probe import ProbeKind, ProbeOutcome, ReplyKind, SearchStop
from mtuscope.active.sweep import DfSweep, SweepResult
from mtuscope.active.transport import (
    Drive,
    DriveStop,
    RawTransport,
    UdpTransport,
    drive,
    has_cap_net_raw,
    interface_mtu,
    tcp_mss,
)
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.errors import ProbeError, RawSocketDenied, UsageError
from mtuscope.report.model import Report
from mtuscope.report.path_json import path_body

IPAddress = IPv4Address | IPv6Address

UDP_PORT = 33434
"""Destination port of UDP probes when none is given (traceroute's, usually closed)."""

KINDS = {"echo": ProbeKind.ECHO, "udp": ProbeKind.UDP, "tcp": ProbeKind.TCP_SYN}
"""`--kind` words and the probe kinds they select."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PathOptions:
    """What to probe and how hard (the flags of `probe`, `trace` and `sweep`)."""

    host: str
    """Host name or address, as the user typed it."""
    family: int | None = None
    """4 or 6 to force one family; None takes the first address the resolver gives."""
    port: int | None = None
    """TCP port for the MSS measurement (and TCP probes), or the UDP probes' port."""
    kind: str | None = None
    """"echo", "udp" or "tcp"; None: "tcp" with a port, else "echo"."""
    rate: float = 20.0
    """Probes per second to the target, sustained."""
    timeout: float = 1.0
    """Seconds to wait for each probe's reply."""
    budget: int = 200
    """Probes in total, over every engine of the run."""
    max_seconds: float = 60.0
    """Wall-clock cap of the whole run, seconds."""
    platform: str | None = None
    """A `calc.snippets` platform for configuration lines in the advice."""
    unprivileged: bool = False
    """Use the UDP transport even with the privilege for raw sockets."""
    raw: bool = False
    """Insist on raw sockets: fail (exit 3) without the privilege."""
    download: int = 0
    """Bytes to read from `port` after the handshake to detect a stall (0: no download)."""

    def __post_init__(self) -> None:
        if self.family not in (None, 4, 6):
            raise UsageError(f"IP family must be 4 or 6, not {self.family}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: want 1..65535")
        if self.kind is not None and self.kind not in KINDS:
            raise UsageError(f"--kind {self.kind!r}: want one of {', '.join(KINDS)}")
        if not (self.rate > 0 and self.timeout > 0 and self.max_seconds > 0) or self.budget < 1:
            raise UsageError("--rate, --timeout, --max-seconds must be positive, --budget >= 1")
        if self.kind == "tcp" and self.port is None:
            raise UsageError("--kind tcp needs --port")
        if self.unprivileged and self.raw:
            raise UsageError("--raw and --unprivileged exclude each other")
        if self.download < 0 or (self.download and self.port is None):
            raise UsageError("--download needs --port and a byte count >= 0")


def resolve(host: str, family: int | None = None) -> IPAddress:
    """The address to probe: `host` itself when numeric, else the resolver's first answer.

    Args:
        host: a name or a numeric address.
        family: 4 or 6 to ask for one family only; None for either.

    Returns:
        The address.

    Raises:
        UsageError: the name does not resolve (in that family).
    """
    try:
        address: IPAddress = ip_address(host.strip("[]"))
    except ValueError:
        address = _lookup(host, family)
    if family is not None and address.version != family:
        raise UsageError(f"{host} is an IPv{address.version} address, not IPv{family}")
    return address


def _lookup(host: str, family: int | None) -> IPAddress:
    af = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}[family]
    try:
        infos = socket.getaddrinfo(host, None, af, socket.SOCK_DGRAM)
    except OSError as exc:
        raise UsageError(f"cannot resolve {host!r}: {exc.strerror or exc}") from exc
    if not infos:
        raise UsageError(f"cannot resolve {host!r}")
    return ip_address(str(infos[0][4][0]).split("%")[0])


class _Run:
    """One run's shared state: transport, budget, clock, warnings."""

    def __init__(self, opts: PathOptions) -> None:
        self.opts = opts
        self.dst = resolve(opts.host, opts.family)
        self.warnings: list[str] = []
        self.started = time.monotonic()
        self.sent = 0
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
        self.raw = raw is not None
        wanted = opts.kind or ("tcp" if opts.port is not None else "echo")
        kind = KINDS[wanted]
        if not self.raw and kind is not ProbeKind.UDP:
            self.warnings.append(
                f"{wanted} probes need raw sockets ({why}): probed with UDP over the kernel's "
                "error queue instead"
            )
            kind = ProbeKind.UDP
        self.kind = kind
        if kind is ProbeKind.ECHO:
            self.dport: int | None = None
        elif kind is ProbeKind.UDP:
            # A UDP probe needs a port that answers or refuses; the TCP port is neither.
            self.dport = opts.port if wanted == "udp" and opts.port else UDP_PORT
        else:
            self.dport = opts.port
        # Probes are IP packets: 65535 bytes at most, whatever the interface (lo: 65536).
        self.ceiling = min(interface_mtu(self.dst), 65535)
        self.transport: RawTransport | UdpTransport = raw or UdpTransport(self.dst.version)

    def close(self) -> None:
        self.transport.close()

    def report(self, body: dict[str, Any], findings: tuple[Finding, ...]) -> Report:
        """The run's "path" report: `body` with the transport and probe kind added."""
        body["transport"] = "raw" if self.raw else "udp"
        body["probe_kind"] = self.kind.value
        return Report(
            kind="path",
            inputs=_inputs(self.opts, self.dst),
            findings=findings,
            body=body,
            warnings=tuple(self.warnings),
        )

    def limits(self, budget: int) -> Limits:
        o = self.opts
        return Limits(timeout=o.timeout, rate=o.rate, budget=max(1, budget))

    @property
    def budget_left(self) -> int:
        return self.opts.budget - self.sent

    @property
    def seconds_left(self) -> float:
        return self.opts.max_seconds - (time.monotonic() - self.started)

    def run(self, engine: Any, what: str) -> Drive[Any]:
        """Drive `engine` within what is left of the run's budget and time."""
        o = self.opts
        if self.budget_left < 1 or self.seconds_left <= 0:
            self.warnings.append(f"{what} skipped: the probe budget or --max-seconds ran out")
            return Drive(result=None, stop=DriveStop.PROBE_BUDGET, sent=0, replies=0, seconds=0.0)
        result: Drive[Any] = drive(
            engine,
            self.transport,
            max_seconds=self.seconds_left,
            max_probes=self.budget_left,
            rate=o.rate * 1.5,
            burst=engine.limits.burst + 2,
        )
        self.sent += result.sent
        if result.stop is not DriveStop.FINISHED:
            self.warnings.append(f"{what} stopped early ({result.stop.value}): no result")
        return result


def _inputs(opts: PathOptions, dst: IPAddress) -> tuple[str, ...]:
    return (opts.host,) if opts.host == str(dst) else (opts.host, str(dst))


def _pmtu_budget(opts: PathOptions) -> int:
    # The search needs about 40 probes on a black hole; leave the rest to the trace.
    return min(opts.budget, max(60, opts.budget // 2))


def probe_path(opts: PathOptions) -> Report:
    """`mtuscope probe`: path MTU, hop trace, MSS and findings toward one host.

    Args:
        opts: target and limits.

    Returns:
        A "path" report (DESIGN.md "Contracts"); `warnings` says what could not be measured.

    Raises:
        UsageError: bad options or a name that does not resolve.
        RawSocketDenied: `opts.raw` without the privilege.
        NoRoute: no route to the target.
        ProbeError: the search itself could not finish (budget or time ran out first).
    """
    run = _Run(opts)
    try:
        search = PathMtuSearch(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            limits=run.limits(_pmtu_budget(opts)),
        )
        pmtu_drive = run.run(search, "the path MTU search")
        pmtu: PathMtuResult | None = pmtu_drive.result
        if pmtu is None:
            raise ProbeError(
                f"the path MTU search toward {run.dst} did not finish within --budget "
                f"{opts.budget} / --max-seconds {opts.max_seconds}"
            )
        trace: HopTraceResult | None = None
        hop = HopTrace(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            pmtu=pmtu,
            limits=run.limits(run.budget_left),
        )
        trace = run.run(hop, "the hop trace").result
        next_id = 1 + max(
            (r.probe.id for r in (*pmtu.probes, *(trace.probes if trace else ()))), default=0
        )
        mss = _measure_mss(run, pmtu, next_id)
    finally:
        run.close()
    if pmtu.stop_reason is SearchStop.ICMP_FILTERED:
        hint = (
            " (try --port N with a TCP port it answers)"
            if run.kind is not ProbeKind.TCP_SYN
            else ""
        )
        run.warnings.append(f"{run.dst} answered no {run.kind.value} probe at all{hint}")
    obs = PathObservations(dst=pmtu.dst, port=opts.port, search=pmtu, trace=trace, mss=mss)
    findings = diagnose_path(obs, platform=opts.platform)
    body = path_body(pmtu, trace, mss, port=opts.port)
    body["search"] = {"sent": len(pmtu.probes), "seconds": round(pmtu.seconds, 3)}
    return run.report(body, findings)


def _measure_mss(run: _Run, pmtu: PathMtuResult, next_id: int) -> MssObservation | None:
    """The SYN/ACK's MSS option (raw SYN probe) and TCP_MAXSEG of a real connection."""
    port = run.opts.port
    if port is None:
        return None
    syn_probe: int | None = None
    syn_ack = None
    if run.raw and isinstance(run.transport, RawTransport):
        answered = [
            r
            for r in pmtu.probes
            if r.probe.kind is ProbeKind.TCP_SYN
            and r.reply is not None
            and r.reply.kind is ReplyKind.TCP_RESPONSE
        ]
        for r in answered:
            options = run.transport.syn_ack_options(r.probe.id)
            if options is not None:
                syn_probe, syn_ack = r.probe.id, options
                break
        if syn_ack is None:
            # The search used other probes: one small SYN (a one-size sweep) asks for the MSS.
            one = DfSweep(
                dst=run.dst,
                start=min(run.ceiling, 576 if run.dst.version == 4 else 1280),
                stop=min(run.ceiling, 576 if run.dst.version == 4 else 1280),
                kind=ProbeKind.TCP_SYN,
                dport=port,
                limits=run.limits(2),
                first_id=next_id,
            )
            got: SweepResult | None = run.run(one, "the SYN probe for the MSS").result
            for r in got.probes if got else ():
                if r.outcome is ProbeOutcome.REACHED:
                    options = run.transport.syn_ack_options(r.probe.id)
                    if options is not None:
                        syn_probe, syn_ack = r.probe.id, options
        if syn_ack is None:
            run.warnings.append(f"no SYN/ACK from {run.dst} port {port}: its MSS option is unknown")
    else:
        run.warnings.append("the SYN/ACK's MSS option needs raw sockets: not measured")
    try:
        facts = tcp_mss(
            run.dst,
            port,
            timeout=min(3.0, max(0.5, run.seconds_left)),
            download=run.opts.download,
            max_seconds=max(1.0, min(10.0, run.seconds_left)),
        )
    except ProbeError as exc:
        run.warnings.append(f"no TCP connection for TCP_MAXSEG/TCP_INFO: {exc}")
        if syn_ack is None:
            return None
        return MssObservation(
            family=run.dst.version, port=port, server_announced=syn_ack.mss, probe_id=syn_probe
        )
    return facts.observation(syn_ack=syn_ack, probe_id=syn_probe)


def _as_search(
    *,
    dst: IPAddress,
    kind: ProbeKind,
    dport: int | None,
    path_mtu: int | None,
    stop: SearchStop,
    ceiling: int,
    started: float,
    ended: float,
    probes: tuple[Any, ...] = (),
) -> PathMtuResult:
    """A `PathMtuResult` holding what a trace or a sweep measured toward the destination.

    diagnose/ and the report body take a path MTU result; `trace` and `sweep` run
    no search, so theirs is the destination's MTU as the hop trace or the sweep
    measured it (with the sweep's own probes as evidence, none for a trace: the
    trace's probes are passed with the trace).
    """
    return PathMtuResult(
        dst=dst,
        family=dst.version,
        kind=kind,
        dport=dport,
        path_mtu=path_mtu,
        stop_reason=stop,
        too_big_mtu=None,
        ceiling=ceiling,
        floor=ceiling if path_mtu is None else min(path_mtu, ceiling),
        probes=probes,
        started_at=started,
        ended_at=ended,
    )


def trace_path(opts: PathOptions) -> Report:
    """`mtuscope trace`: hops, the MTU toward each and where it drops (no separate search).

    Args:
        opts: target and limits.

    Returns:
        A "path" report; `pmtu` is the MTU toward the destination hop, when it answered.

    Raises:
        UsageError, RawSocketDenied, NoRoute: as `probe_path`.
        ProbeError: the trace did not finish within the budget or time.
    """
    run = _Run(opts)
    try:
        engine = HopTrace(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            limits=run.limits(opts.budget),
        )
        trace: HopTraceResult | None = run.run(engine, "the hop trace").result
    finally:
        run.close()
    if trace is None:
        raise ProbeError(f"the hop trace toward {run.dst} did not finish within the limits")
    last = trace.hops[-1] if trace.hops and trace.reached else None
    stop = trace.stop_reason if not trace.reached else SearchStop.CONVERGED
    pmtu = _as_search(
        dst=run.dst,
        kind=run.kind,
        dport=run.dport,
        path_mtu=last.mtu if last is not None else None,
        stop=stop,
        ceiling=run.ceiling,
        started=trace.started_at,
        ended=trace.ended_at,
    )
    body = path_body(pmtu, trace, None, port=opts.port)
    body["stop_reason"] = trace.stop_reason.value
    return run.report(
        body, diagnose_path(PathObservations(dst=run.dst, trace=trace), platform=opts.platform)
    )


def sweep_path(
    opts: PathOptions, *, start: int, stop: int, step: int = 1, count: int = 1
) -> Report:
    """`mtuscope sweep`: every size of `start..stop` with DF set, one table row per size.

    Args:
        opts: target and limits (`budget` must cover the sizes times `count`).
        start, stop: first and last size, bytes (whole IP packets).
        step: size increment.
        count: probes per size.

    Returns:
        A "path" report whose body adds `sweep[]` rows; `pmtu` is the largest size
        answered when one byte more and every larger size of the range failed (else null).

    Raises:
        UsageError: an empty range, or more probes than `budget`.
        RawSocketDenied, NoRoute: as `probe_path`.
        ProbeError: the sweep did not finish within the time.
    """
    run = _Run(opts)
    try:
        engine = DfSweep(
            dst=run.dst,
            start=start,
            stop=stop,
            step=step,
            count=count,
            kind=run.kind,
            dport=run.dport,
            limits=run.limits(opts.budget),
        )
        result: SweepResult | None = run.run(engine, "the sweep").result
    finally:
        run.close()
    if result is None:
        raise ProbeError(f"the sweep toward {run.dst} did not finish within --max-seconds")
    best = result.exact_path_mtu
    exact = best is not None
    pmtu = _as_search(
        dst=run.dst,
        kind=run.kind,
        dport=run.dport,
        path_mtu=best if exact else None,
        stop=result.stop_reason,
        ceiling=run.ceiling,
        started=result.started_at,
        ended=result.ended_at,
        probes=result.probes if exact else (),
    )
    body = path_body(pmtu, None, None, port=opts.port)
    body["probes"] = {
        "sent": len(result.probes),
        "answered": sum(1 for r in result.probes if r.reply is not None),
        "seconds": round(result.ended_at - result.started_at, 3),
    }
    body["sweep"] = [
        {
            "size": r.size,
            "sent": r.sent,
            "reached": r.reached,
            "too_big": r.too_big,
            "lost": r.lost,
            "other": r.other,
            "mtus": list(r.mtus),
            "min_rtt_ms": r.min_rtt_ms,
        }
        for r in result.rows
    ]
    return run.report(
        body, diagnose_path(PathObservations(dst=run.dst, sweep=result), platform=opts.platform)
    )
