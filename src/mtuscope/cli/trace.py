"""`mtuscope trace HOST`: the hops toward a host, the MTU toward each, where it drops.

Layer: edge (CLI). Parses arguments and calls `jobs.trace.trace`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.cli.probe import add_path_verb, common_options
from mtuscope.jobs.result import JobResult


def add_parser(sub: Any) -> None:
    add_path_verb(
        sub,
        "trace",
        help="trace the hops to a host with the MTU toward each and where it drops",
        description="Hop trace: each hop's address, RTT and the MTU toward it, and the link "
        "where the MTU drops (a path report without a separate path MTU search).",
        budget=200,
        run=run,
    )


def run(args: argparse.Namespace) -> JobResult:
    from mtuscope.jobs.path import PathOptions
    from mtuscope.jobs.trace import trace

    return trace(PathOptions(**common_options(args)))
