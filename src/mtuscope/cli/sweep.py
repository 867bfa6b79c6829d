"""`mtuscope sweep HOST --from A --to B`: every size with DF set, one row per size.

Layer: edge (CLI). Parses arguments and calls `jobs.sweep.sweep`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.cli.probe import add_path_verb, common_options
from mtuscope.jobs.result import JobResult


def add_parser(sub: Any) -> None:
    p = add_path_verb(
        sub,
        "sweep",
        help="send every packet size of a range with DF set and tabulate what came back",
        description="DF sweep, like a router's extended ping: sizes A..B (whole IP packets, "
        "bytes) in steps of S, COUNT probes each, one table row per size.",
        budget=400,
        run=run,
    )
    p.add_argument("--from", dest="start", type=int, required=True, metavar="A", help="first size")
    p.add_argument("--to", dest="stop", type=int, required=True, metavar="B", help="last size")
    p.add_argument("--step", type=int, default=1, metavar="S", help="size step (default 1)")
    p.add_argument("--count", type=int, default=1, help="probes per size (default 1)")


def run(args: argparse.Namespace) -> JobResult:
    from mtuscope.jobs.sweep import SweepOptions, sweep

    return sweep(
        SweepOptions(
            **common_options(args),
            start=args.start,
            stop=args.stop,
            step=args.step,
            count=args.count,
        )
    )
