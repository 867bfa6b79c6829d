"""`mtuscope middlebox HOST --port N`: find the hop that changes TCP SYNs on their way.

Layer: edge (command line). Parses arguments, opens a raw-socket transport,
runs the sans-IO `MiddleboxTrace` engine through the driver, and hands the
result to diagnose/. Decides nothing itself. Needs root or CAP_NET_RAW (exit 3).
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.errors import ProbeError, UsageError
from mtuscope.report.model import Report


def add_parser(sub: Any) -> None:
    """Register the `middlebox` verb.

    Args:
        sub: the subparsers object of the top-level parser.
    """
    p = sub.add_parser(
        "middlebox",
        help="find the hop that rewrites TCP SYNs (MSS clamp, options, ISN, TCP proxy)",
        description="Send TCP SYNs with TTL 1, 2, 3 ... and compare what each router quotes "
        "back in its ICMP time-exceeded with what was sent: the hop where the MSS, another TCP "
        "option, the sequence number, DF, DSCP or the IP id changed. Compares with the SYN/ACK "
        "that comes back, and checks with one ICMP echo whether a TCP proxy answered for the "
        "destination. Needs root or CAP_NET_RAW.",
    )
    p.add_argument("host", metavar="HOST", help="destination address (or name)")
    p.add_argument("--port", type=int, required=True, help="destination TCP port")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    p.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    p.add_argument("--max-ttl", type=int, default=16, help="highest TTL tried (default 16)")
    p.add_argument(
        "--timeout", type=float, default=0.5, help="seconds to wait per probe (default 0.5)"
    )
    p.add_argument("--src", help="source address (default: the route's)")
    p.add_argument("--iface", help="send and receive on this interface only")
    p.add_argument(
        "--no-proxy-check",
        dest="proxy_check",
        action="store_false",
        help="skip the ICMP echo that tells a TCP proxy from the destination",
    )
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> Report:
    """Walk the path to HOST:PORT with TTL-limited SYNs.

    Args:
        args: parsed arguments (`host`, `port`, `json`, `family`, `max_ttl`,
            `timeout`, `src`, `iface`, `proxy_check`, `platform`).

    Returns:
        A `Report(kind="middlebox")`.

    Raises:
        UsageError: a bad port, TTL, timeout or platform.
        RawSocketDenied: no root / CAP_NET_RAW.
        ProbeError: no route, or the walk could not finish within its time bound.
    """
    from mtuscope.active.engine import Limits
    from mtuscope.active.middlebox import MiddleboxTrace
    from mtuscope.active.transport import RawTransport, drive
    from mtuscope.diagnose.middlebox import middlebox_findings
    from mtuscope.report.middlebox_json import middlebox_body

    if args.platform:
        from mtuscope.calc.snippets import PLATFORMS

        if args.platform not in PLATFORMS:
            raise UsageError(
                f"--platform {args.platform!r}: unknown; known: {', '.join(sorted(PLATFORMS))}"
            )
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: want 1..65535")
    if not 0 < args.timeout <= 10:
        raise UsageError(f"--timeout {args.timeout}: want more than 0 and at most 10 seconds")
    from mtuscope.jobs.inputs import resolve

    dst = resolve(args.host, args.family)
    limits = Limits(timeout=args.timeout, rate=200.0, burst=16, budget=4 * args.max_ttl + 4)
    engine = MiddleboxTrace(
        dst=dst,
        dport=args.port,
        max_ttl=args.max_ttl,
        limits=limits,
        check_relay=args.proxy_check,
    )
    # Worst case: every TTL lost on every attempt, one window after another.
    bound = (args.max_ttl + 1) * limits.attempts * limits.timeout + 5.0
    with RawTransport(dst.version, src=args.src, iface=args.iface) as transport:
        run_ = drive(
            engine,
            transport,
            max_seconds=bound,
            max_probes=limits.budget + 2,
        )
    if run_.result is None:
        raise ProbeError(f"the walk to {dst} port {args.port} stopped early: {run_.stop.value}")
    result = run_.result
    findings = middlebox_findings(result, platform=args.platform)
    return Report(
        kind="middlebox",
        inputs=(f"{args.host} port {args.port}",),
        findings=findings,
        body=middlebox_body(result),
    )
