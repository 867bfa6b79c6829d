"""`mtuscope analyze FILE|DIR [...]`: the MSS/MTU story of capture files, in one report.

Layer: edge (command line). Parses arguments, builds `AnalyzeOptions`, draws the
progress bar, and returns the analyze job's result.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtuscope.jobs.analyze import CaptureResult


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse pcap/pcapng captures: MSS per connection, ICMP too-big, black holes",
        description="Analyse pcap/pcapng captures (gzip and '-' for stdin work too): the MSS "
        "each side announced and used, ICMP too-big messages and the connection they quote, "
        "black holes, the Windows 536-byte floor, offload artifacts and IP fragments.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR",
        help="capture file, - for stdin, or a directory (every capture under it, by magic)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument(
        "--filter", metavar="HOST[:PORT]", help="only packets to or from this host (and port)"
    )
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--annotate",
        metavar="OUT.pcapng",
        help="write the capture again as pcapng with a packet comment on every evidence frame "
        "(Wireshark: frame.comment)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="local processes for many captures (default: all cores; 1: in this process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on the workers of this Dask scheduler (needs mtuscope[dask]; the "
        "workers must see the same paths)",
    )
    p.set_defaults(run=run)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return int(text)


def run(args: argparse.Namespace) -> CaptureResult:
    from mtuscope.jobs.analyze import AnalyzeOptions, analyze

    opts = AnalyzeOptions(
        paths=tuple(args.files),
        filter=args.filter,
        platform=args.platform,
        annotate=args.annotate,
        jobs=args.jobs,
        scheduler=args.scheduler,
    )
    show = not args.no_progress and sys.stderr.isatty()
    if not show:
        return analyze(opts)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    # On stderr, the terminal it checked: stdout may be a pipe or a JSON file.
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(path: str, done: int, total: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(path, total=total or None)
            bar.update(tasks[path], completed=done)

        return analyze(opts, progress=progress)
