"""`mtuscope probe HOST`: path MTU, hops, MSS and what is wrong, in one report.

Layer: edge (CLI). Parses arguments, builds the job's frozen options and calls
`jobs.probe.probe`; the flags shared with `trace` and `sweep` are defined here
once (`add_path_verb`, `common_options`).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from mtuscope.cli.options import add_family
from mtuscope.jobs.result import JobResult


def add_path_verb(
    sub: Any,
    name: str,
    *,
    help: str,
    description: str,
    budget: int,
    run: Callable[[argparse.Namespace], JobResult],
) -> argparse.ArgumentParser:
    """Add a path verb's parser with the flags every path verb has; returns it for more.

    Args:
        sub: the subparsers.
        name: the verb.
        help: its line in `mtuscope --help`.
        description: its `--help` text.
        budget: its default probe budget.
        run: its run function.
    """
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    add_common(p, budget=budget)
    p.set_defaults(run=run)
    return p


def add_common(p: argparse.ArgumentParser, *, budget: int) -> None:
    """The flags every path verb has (target, family, limits, transport, output).

    Args:
        p: the verb's parser.
        budget: the verb's default probe budget.
    """
    p.add_argument("host", metavar="HOST", help="name or address to probe (the only target)")
    add_family(p)
    verb = p.prog.split()[-1]
    port_help = (
        "TCP port: MSS measurement and (default) TCP probes"
        if verb == "probe"
        else f"TCP port for TCP probes (the default kind with --port); {verb} measures no "
        "MSS (probe --port does)"
    )
    p.add_argument("--port", type=int, help=port_help)
    p.add_argument(
        "--kind",
        choices=("echo", "udp", "tcp"),
        help="probe kind (default: tcp with --port, else echo)",
    )
    p.add_argument("--rate", type=float, default=20.0, help="probes per second (default 20)")
    p.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        help="the longest a probe waits, in seconds (default 1); once the path answers, the "
        "wait follows its measured RTT below this (TCP's RTO: at least 3 RTTs, 0.2 s floor)",
    )
    p.add_argument("--budget", type=int, default=budget, help=f"probes in total (default {budget})")
    p.add_argument(
        "--max-seconds", type=float, default=60.0, help="wall-clock cap in seconds (default 60)"
    )
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--unprivileged",
        action="store_true",
        help="UDP probes over the error queue, no raw sockets",
    )
    mode.add_argument("--raw", action="store_true", help="fail (exit 3) without raw sockets")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every probe (size, TTL, flow, sent time, reply, RTT) to stderr",
    )


def common_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `jobs.path.PathOptions` the shared flags describe.

    Raises:
        UsageError: an unknown `--kind` word.
    """
    from mtuscope.jobs.path import probe_kind
    from mtuscope.report.path_text import print_probe

    return {
        "host": args.host,
        "family": args.family,
        "port": args.port,
        "kind": probe_kind(args.kind),
        "rate": args.rate,
        "timeout": args.timeout,
        "budget": args.budget,
        "max_seconds": args.max_seconds,
        "platform": args.platform,
        "unprivileged": args.unprivileged,
        "raw": args.raw,
        # -v: one stderr line per probe, as soon as it is filed.
        "on_probe": functools.partial(print_probe, stream=sys.stderr) if args.verbose else None,
    }


def add_parser(sub: Any) -> None:
    p = add_path_verb(
        sub,
        "probe",
        help="find the path MTU to a host, where it drops, the MSS, and what is wrong",
        description="Probe one host: path MTU (exact to the byte, black holes included), the "
        "hops and the link where the MTU drops, the MSS (with --port) and the findings. "
        "Raw sockets when root or CAP_NET_RAW, else UDP probes like tracepath.",
        budget=200,
        run=run,
    )
    p.add_argument(
        "--download",
        type=int,
        default=0,
        metavar="BYTES",
        help="with --port: read this many bytes after the handshake to catch a stall "
        "(after sending --request); a server that ends its answer sooner is done, not stalled",
    )
    p.add_argument(
        "--request",
        metavar="WHAT",
        help="with --download: what to send first: 'http' (GET / HTTP/1.1 with Host as typed "
        "and Connection: close; the default), 'tls' (a TLS ClientHello with SNI; the default "
        "for port 443), 'none' (for a server that talks first), or the request itself with "
        r"escapes \r \n \t \0 \\ \xHH, e.g. 'HEAD /big HTTP/1.0\r\n\r\n'",
    )
    p.add_argument(
        "--responder",
        metavar="HOST:PORT",
        help="also run a two-ended check against an `mtuscope responder` there: the SYN as "
        "it arrived, and the path MTU measured back toward us",
    )


def run(args: argparse.Namespace) -> JobResult:
    from mtuscope.jobs.probe import ProbeOptions, probe
    from mtuscope.jobs.two_ended import TwoEndedOptions

    responder = None
    if args.responder:
        responder = TwoEndedOptions.of_target(
            args.responder, what="--responder", family=args.family, platform=args.platform
        )
    return probe(
        ProbeOptions(
            **common_options(args),
            download=args.download,
            request=args.request,
            responder=responder,
        )
    )
