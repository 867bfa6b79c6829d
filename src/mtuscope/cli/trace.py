"""`mtuscope trace HOST`: the hops toward a host, the MTU toward each, where it drops.

Layer: edge (CLI). Parses arguments and calls `report.path.trace_path`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.cli.probe import add_common, options
from mtuscope.report.model import Report


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "trace",
        help="trace the hops to a host with the MTU toward each and where it drops",
        description="Hop trace: each hop's address, RTT and the MTU toward it, and the link "
        "where the MTU drops (a path report without a separate path MTU search).",
    )
    add_common(p, budget=200)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> Report:
    from mtuscope.report.path import trace_path

    return trace_path(options(args))
