"""`mtuscope compare A B`: the same connections seen at two capture points.

Layer: edge (command line). Parses arguments, reads both captures chunk by
chunk (bounded memory: only SYN and data-segment rows are kept, see
`passive.compare_summary`), and hands the summaries to the pure cores.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mtuscope.report.model import Report

if TYPE_CHECKING:
    from mtuscope.passive.compare_summary import CaptureSummary

CHUNK_BYTES = 32 << 20
"""Bytes read per chunk (a few tens of MB, as DESIGN.md "Scale" asks)."""


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


def summarise_file(
    path: str, *, chunk_bytes: int = CHUNK_BYTES
) -> tuple[CaptureSummary, tuple[str, ...]]:
    """Read one capture into a comparison summary, chunk by chunk.

    Args:
        path: the capture file ('-' for standard input).
        chunk_bytes: bytes per chunk.

    Returns:
        The `CaptureSummary` and the reader's warnings.

    Raises:
        CaptureError: the file cannot be read from its start.
    """
    from mtuscope.capture.decode import decode_chunk
    from mtuscope.capture.reader import iter_chunks
    from mtuscope.capture.table import PacketTable
    from mtuscope.passive.compare_summary import (
        SummaryPartial,
        finish_summary,
        merge_summaries,
        summarise_chunk,
    )

    chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
    acc: SummaryPartial | None = None
    for chunk in chunks:
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        part = summarise_chunk(table, capture=path)
        acc = part if acc is None else merge_summaries(acc, part)
    if acc is None:
        acc = summarise_chunk(PacketTable.empty(), capture=path)
    return finish_summary(acc), tuple(chunks.info.warnings)


def run(args: argparse.Namespace) -> Report:
    """Compare two captures.

    Args:
        args: parsed arguments (`a`, `b`, `json`, `platform`, `window`).

    Returns:
        A `Report(kind="compare")`.

    Raises:
        UsageError: unknown platform, a non-positive window, or both captures the same stdin.
        CaptureError: a capture cannot be read.
    """
    from mtuscope.diagnose.compare import compare_body, compare_findings
    from mtuscope.errors import UsageError
    from mtuscope.passive.compare import compare_captures

    if args.platform:
        from mtuscope.calc.snippets import PLATFORMS

        if args.platform not in PLATFORMS:
            raise UsageError(
                f"--platform {args.platform!r}: unknown; known: {', '.join(sorted(PLATFORMS))}"
            )
    if not args.window > 0:
        raise UsageError(f"--window {args.window}: must be a positive number of seconds")
    if args.a == "-" and args.b == "-":
        raise UsageError("only one of the two captures can be read from standard input")
    sa, warn_a = summarise_file(args.a)
    sb, warn_b = summarise_file(args.b)
    result = compare_captures(sa, sb, window_ns=int(args.window * 1e9))
    findings = compare_findings(result, platform=args.platform)
    return Report(
        kind="compare",
        inputs=(args.a, args.b),
        findings=findings,
        body=compare_body(result, findings),
        warnings=warn_a + warn_b,
    )
