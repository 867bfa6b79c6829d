"""The `probe` job: path MTU search, hop trace, MSS and findings toward one host.

Layer: jobs/. Orchestration only (jobs/path.py has the run): the engines of
active/ measure, diagnose/ concludes. With a port, the SYN/ACK's MSS option rides
on the reply of a TCP SYN probe (`Reply.tcp_options`) and a real connection
gives the kernel's view (`tcp_mss`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.mss import MssObservation, RequestKind
from mtuscope.active.path_mtu import PathMtuResult, PathMtuSearch
from mtuscope.active.probe import (
    PortState,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    SearchStop,
    port_state,
)
from mtuscope.active.size_engine import totals
from mtuscope.active.sweep import DfSweep
from mtuscope.active.transport import tcp_mss
from mtuscope.errors import ProbeError, UsageError
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.path import PathOptions, PathReport, PathRun, PathTransport
from mtuscope.jobs.tcp_end import check_tcp_end
from mtuscope.jobs.two_ended import TwoEndedOptions, check_two_ended, with_two_ended
from mtuscope.wire.http import http_get, unescape_request
from mtuscope.wire.sizes import MIN_REASSEMBLY
from mtuscope.wire.tcp_options import TcpOptions
from mtuscope.wire.tls import client_hello


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOptions(PathOptions):
    """`probe`'s options: the shared ones, plus a download to catch a stall."""

    download: int = 0
    """Bytes to read from `port` after the handshake to detect a stall (0: no download)."""
    request: str | None = None
    """What the download sends first (`--request`): "http" (GET / HTTP/1.1), "tls" (a
    ClientHello), "none", or the request itself with backslash escapes (\\r\\n);
    None: "tls" for port 443, else "http"."""
    responder: TwoEndedOptions | None = None
    """Also run a two-ended check against an `mtuscope responder` (`--responder`)."""

    def __post_init__(self) -> None:
        PathOptions.__post_init__(self)
        if self.download < 0 or (self.download and self.port is None):
            raise UsageError("--download needs --port and a byte count >= 0")
        if self.request is not None:
            if not self.download:
                raise UsageError("--request needs --download")
            download_request(self.request, host=self.host, port=self.port or 0, check=True)


TLS_PORT = 443
"""The port whose default request is a TLS ClientHello (HTTPS)."""


def download_request(
    request: str | None, *, host: str, port: int, check: bool = False
) -> tuple[RequestKind, bytes]:
    """The bytes a download sends first, and what they are.

    Args:
        request: `ProbeOptions.request` ("http", "tls", "none", the request text
            with escapes, or None for the port's default).
        host: the host as typed (the HTTP Host field, the TLS server name).
        port: the TCP port.
        check: only check the request (fixed bytes instead of random ones).

    Returns:
        The kind of request and its bytes.

    Raises:
        UsageError: a request text with a bad escape, or a host name an HTTP
            Host field or a TLS server name cannot carry.
    """
    word = request if request is not None else ("tls" if port == TLS_PORT else "http")
    if word == "none":
        return RequestKind.NONE, b""
    if word == "http":
        return RequestKind.HTTP_GET, http_get(host, port)
    if word == "tls":
        hello = client_hello(
            host=host,
            random=bytes(32) if check else os.urandom(32),
            session_id=bytes(32) if check else os.urandom(32),
            x25519_share=bytes(range(1, 33)) if check else os.urandom(32),
        )
        return RequestKind.TLS_CLIENT_HELLO, hello
    return RequestKind.USER, unescape_request(word)


def _search_budget(opts: PathOptions) -> int:
    # The search needs 16 to 40 probes on a black hole; leave the rest to the trace.
    return min(opts.budget, max(60, opts.budget // 2))


def probe(opts: ProbeOptions) -> PathReport:
    """`mtuscope probe`: path MTU, hop trace, MSS and findings toward one host.

    Args:
        opts: target and limits.

    Returns:
        A "path" report; `warnings` says what could not be measured, and a spent
        budget or time shows as the stop reason (BUDGET, TIME) with a partial answer.

    Raises:
        UsageError: bad options or a name that does not resolve.
        RawSocketDenied: `opts.raw` without the privilege.
        NoRoute: no route to the target.
        ProbeError: with a responder,
            the responder could not be reached or refused.
    """
    report = _probe(opts)
    if opts.responder is None:
        return report
    if INTERRUPTS.requested:
        return dataclasses.replace(
            report, warnings=(*report.warnings, "the two-ended check skipped: interrupted")
        )
    return with_two_ended(report, check_two_ended(opts.responder))


@INTERRUPTS.keeping()
def _probe(opts: ProbeOptions) -> PathReport:
    """The search, the trace and the MSS: what `probe` measures itself."""
    run = PathRun(opts)
    try:
        engine = PathMtuSearch(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            limits=run.limits(_search_budget(opts), adaptive=True),
            rtt=run.rtt,
        )
        search = run.first(engine, "the path MTU search")
        hop = HopTrace(
            dst=run.dst,
            ceiling=run.ceiling,
            kind=run.kind,
            dport=run.dport,
            pmtu=search,
            limits=run.limits(run.budget_left, adaptive=True),
            rtt=run.rtt,
        )
        trace = run.run(hop, "the hop trace")
        records = (*search.probes, *(trace.probes if trace else ()))
        next_id = 1 + max((r.probe.id for r in records), default=0)
        mss = _measure_mss(
            run, search, next_id, download=opts.download, request=opts.request, records=records
        )
        # Who answered the SYN probes: the destination, or a TCP proxy on the way.
        # (The SYN probe for the MSS may have taken ids next_id and next_id + 1.)
        tcp_end = check_tcp_end(run, records, first_id=next_id + 2)
    finally:
        run.close()
    # A TCP port that answered nothing is said once, by the report's port line.
    if search.stop_reason is SearchStop.ICMP_FILTERED and run.kind is not ProbeKind.TCP_SYN:
        hint = " (try --port N with a TCP port it answers)"
        run.warnings.append(f"{run.dst} answered no {run.kind.value} probe at all{hint}")
    return run.report(
        dataclasses.replace(run.observations(search=search, trace=trace, mss=mss), tcp_end=tcp_end),
        pmtu=search.path_mtu if search.exact else None,
        stop_reason=search.stop_reason,
        probes=totals(search, *([trace] if trace else [])),
        search=totals(search),
    )


def _syn_ack(records: tuple[ProbeRecord, ...]) -> tuple[int, TcpOptions] | None:
    """The first SYN/ACK among `records`: its probe's id and its options."""
    for r in records:
        if (
            r.probe.kind is ProbeKind.TCP_SYN
            and r.outcome is ProbeOutcome.REACHED
            and r.reply is not None
            and r.reply.tcp_options is not None
        ):
            return r.probe.id, r.reply.tcp_options
    return None


def _measure_mss(
    run: PathRun,
    search: PathMtuResult,
    next_id: int,
    *,
    download: int,
    request: str | None,
    records: tuple[ProbeRecord, ...] = (),
) -> MssObservation | None:
    """The SYN/ACK's MSS option (raw SYN probe) and TCP_MAXSEG of a real connection;
    nothing when the SYN probes showed the port closed (RST) or filtered (silence, an
    unreachable): the report's port line says so, no connection is tried."""
    port = run.opts.port
    if port is None or run.interrupted or INTERRUPTS.requested:
        return None
    if port_state(records) in (PortState.CLOSED, PortState.FILTERED):
        return None
    syn: tuple[int, TcpOptions] | None = None
    if run.mode is not PathTransport.RAW:
        run.warnings.append("the SYN/ACK's MSS option needs raw sockets: not measured")
    else:
        syn = _syn_ack(search.probes)
        if syn is None:
            # The search used other probes: one small SYN (a one-size sweep) asks for the MSS.
            size = min(run.ceiling, MIN_REASSEMBLY[run.dst.version])
            one = DfSweep(
                dst=run.dst,
                start=size,
                stop=size,
                kind=ProbeKind.TCP_SYN,
                dport=port,
                limits=run.limits(2),
                first_id=next_id,
            )
            got = run.run(one, "the SYN probe for the MSS")
            syn = _syn_ack(got.probes) if got else None
        if syn is None:
            run.warnings.append(f"no SYN/ACK from {run.dst} port {port}: its MSS option is unknown")
    probe_id, options = syn if syn is not None else (None, None)
    kind, sent = download_request(request, host=run.opts.host, port=port)
    try:
        with INTERRUPTS.armed():
            facts = tcp_mss(
                run.dst,
                port,
                timeout=min(3.0, max(0.5, run.seconds_left)),
                download=download,
                request=sent,
                request_kind=kind,
                max_seconds=max(1.0, min(10.0, run.seconds_left)),
            )
    except (ProbeError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            run.interrupted = True
            run.warnings.append("the TCP connection for TCP_MAXSEG/TCP_INFO: interrupted")
        else:
            run.warnings.append(f"no TCP connection for TCP_MAXSEG/TCP_INFO: {exc}")
        if options is None:
            return None
        return MssObservation(
            family=run.dst.version, port=port, server_announced=options.mss, probe_id=probe_id
        )
    return facts.observation(syn_ack=options, probe_id=probe_id)
