"""`mtuscope responder` (the far end) and `mtuscope responder-check HOST:PORT` (the near end).

Layer: edge (argument parsing, and the service's run loop: its signal handling).
The jobs are `jobs.responder.serve_responder` (the service) and
`jobs.two_ended.check_two_ended` (the check); the renderers are in
report/middlebox_json.py and report/middlebox_text.py.

`responder` runs until SIGINT or SIGTERM (or `--max-connections`) and returns
exit code 0; it prints one line per connection to standard error.
`responder-check` returns a "middlebox" report (`--json` for the document).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from mtuscope.cli.options import add_family
from mtuscope.jobs.responder_port import RESPONDER_PORT

if TYPE_CHECKING:
    from mtuscope.jobs.two_ended import TwoEndedReport

DEFAULT_PORT = RESPONDER_PORT
"""The one responder port (jobs/responder_port.py: cheap to import for `--help`)."""


def add_parser(sub: Any) -> None:
    """Add the `responder` and `responder-check` verbs to the CLI's sub-parsers."""
    p = sub.add_parser(
        "responder",
        help="run the far end of a two-ended check (records each SYN as it arrived)",
        description="Listen on one address and port; tell each connecting client what its "
        "SYN looked like on arrival (Linux TCP_SAVED_SYN) and, when asked, measure the path "
        "MTU back toward that client only. Bounded: 1 KiB requests, 16 KiB answers, a "
        "deadline per connection, a rate limit per source.",
    )
    p.add_argument("--bind", required=True, help="local address to listen on (required)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port ({DEFAULT_PORT})")
    p.add_argument("--no-reverse", action="store_true", help="refuse reverse path MTU measurements")
    p.add_argument("--rate", type=float, default=0.5, help="requests per second per source (0.5)")
    p.add_argument("--burst", type=int, default=5, help="requests a source may make at once (5)")
    p.add_argument("--deadline", type=float, default=5.0, help="seconds per connection (5)")
    p.add_argument("--max-clients", type=int, default=8, help="connections served at once (8)")
    p.add_argument(
        "--max-connections", type=int, default=None, help="exit after this many connections"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="on exit, print one JSON document (address, port, connections served)",
    )
    p.set_defaults(run=run)

    c = sub.add_parser(
        "responder-check",
        help="connect to an mtuscope responder and compare the SYN sent with the SYN received",
        description="Connect to `mtuscope responder` at HOST:PORT and report what the path "
        "changed in the handshake (MSS, options, sequence numbers, addresses) and, unless "
        "--no-reverse, the path MTU from the responder back to here. Capturing our own SYN "
        "(all options, the ISN) needs root; without it only the MSS is compared.",
    )
    c.add_argument(
        "target",
        metavar="HOST[:PORT]",
        help=f"the responder ([IPv6]:PORT for IPv6; port {DEFAULT_PORT}, the responder's, "
        "when left out)",
    )
    c.add_argument("--json", action="store_true", help="print the JSON report")
    add_family(c)
    c.add_argument("--timeout", type=float, default=5.0, help="seconds for the exchange (5)")
    c.add_argument("--no-reverse", action="store_true", help="do not ask for the reverse PMTU")
    c.add_argument("--platform", help="configuration snippets for this platform in the advice")
    c.set_defaults(run=run_check)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (SIGINT, SIGTERM) or `--max-connections` were taken.

    Returns:
        0 once stopped.

    Raises:
        UsageError: a bad address, port or bound (exit 2).
        ProbeError: the kernel keeps no SYNs (exit 3).
    """
    from mtuscope.jobs.responder import ResponderLimits, ResponderOptions, serve_responder

    limits = ResponderLimits(
        deadline=args.deadline,
        rate=args.rate,
        burst=args.burst,
        max_clients=args.max_clients,
        reverse=not args.no_reverse,
    )
    opts = ResponderOptions(
        bind=args.bind, port=args.port, limits=limits, max_connections=args.max_connections
    )

    def log(line: str) -> None:
        print(f"mtuscope responder: {line}", file=sys.stderr, flush=True)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        served = serve_responder(opts, stop=stop, log=log)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if args.json:
        doc = {
            "address": str(served.address),
            "port": served.port,
            "connections": served.connections,
        }
        sys.stdout.write(json.dumps(doc) + "\n")
    return 0


EXIT_CLOSED = 1
"""A closed responder port is a result (the check ran: nothing answers there), not a
missing environment: exit 1, as for an error finding, with one line."""


def run_check(args: argparse.Namespace) -> TwoEndedReport | int:
    """Run the two-ended check.

    Returns:
        The report; or `EXIT_CLOSED` after one line on standard error when nothing
        listens on the responder's port.

    Raises:
        UsageError: a bad HOST[:PORT], timeout or platform (exit 2).
        ProbeError: the responder is unreachable or refused (exit 3).
    """
    from mtuscope.errors import PortClosed
    from mtuscope.jobs.two_ended import TwoEndedOptions, check_two_ended

    opts = TwoEndedOptions.of_target(
        args.target,
        what="the responder",
        family=args.family,
        platform=args.platform,
        timeout=args.timeout,
        reverse_pmtu=not args.no_reverse,
    )
    try:
        return check_two_ended(opts)
    except PortClosed as exc:
        print(f"mtuscope responder-check: {exc}", file=sys.stderr)
        return EXIT_CLOSED
