"""`mtuscope compare A B`: the same connections seen at two capture points.

Layer: edge (command line). Parses arguments, builds `CompareOptions` and
returns the compare job's result; the reading is jobs/compare.py's.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtuscope.jobs.compare import CompareReport


def add_parser(sub: Any) -> None:
    """Register the `compare` verb.

    Args:
        sub: the subparsers object of the top-level parser.
    """
    p = sub.add_parser(
        "compare",
        help="compare the same connections captured at two points (MSS clamps, NAT, loss)",
        description="Match the TCP connections of two captures of the same traffic taken at "
        "two points (even through NAT and sequence-number rewriting), estimate the clock "
        "offset, and report what changed in between: MSS rewritten, ISN offset, TCP options "
        "added or stripped, segments lost between the points, offload artifacts, and the ICMP "
        "too-big messages each point saw.",
    )
    p.add_argument("a", metavar="A", help="first capture (pcap/pcapng, gzip or - for stdin)")
    p.add_argument("b", metavar="B", help="second capture")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    p.add_argument(
        "--window",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how far apart (after clock alignment) a pair's starts may be (default 2)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> CompareReport:
    """Compare two captures.

    Args:
        args: parsed arguments (`a`, `b`, `json`, `platform`, `window`).

    Returns:
        The compare job's result.

    Raises:
        UsageError: unknown platform, a non-positive window, or both captures the same stdin.
        CaptureError: a capture cannot be read.
    """
    from mtuscope.jobs.compare import CompareOptions, compare

    return compare(CompareOptions(a=args.a, b=args.b, platform=args.platform, window_s=args.window))
