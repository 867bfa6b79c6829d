"""`mtuscope agent`: the monitoring agent (DESIGN.md "Monitoring: contract").

Layer: edge (argument parsing only); the agent is `agent.main.run_agent`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_SPOOL = "mtuscope-agent.spool"
TOKEN_ENV = "MTUSCOPE_AGENT_TOKEN"


def add_parser(sub: Any) -> None:
    """Add the `agent` verb."""
    p = sub.add_parser(
        "agent",
        help="run a monitoring agent: pull its schedule, probe, push results to the server",
        description="Pull this agent's schedule from the server, run its tests (the same "
        "probing as `mtuscope probe`, one flow id per source port), keep every result in a "
        "local spool until the server has it, and push them. The token may come from "
        f"{TOKEN_ENV} instead of --token (which other users can see in ps).",
    )
    p.add_argument("--server", required=True, metavar="URL", help="the server, http://HOST:PORT")
    p.add_argument("--token", metavar="TOKEN", help=f"this agent's token (or {TOKEN_ENV})")
    p.add_argument("--name", metavar="NAME", help="refuse to run unless the token is NAME's")
    p.add_argument(
        "--spool", default=DEFAULT_SPOOL, metavar="PATH", help=f"spool file ({DEFAULT_SPOOL})"
    )
    p.add_argument(
        "--pull-seconds",
        type=float,
        metavar="S",
        help="seconds between schedule pulls (default: min(30, the shortest interval))",
    )
    p.add_argument("--workers", type=int, default=32, help="rounds at once (default 32)")
    p.add_argument(
        "--no-capture", action="store_true", help="never run tcpdump on a black hole or clamp"
    )
    p.add_argument(
        "--max-seconds", type=float, metavar="S", help="stop after this long (default: never)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the agent until SIGINT or SIGTERM (or --max-seconds)."""
    from mtuscope.agent.main import run_agent

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV, "")
    return run_agent(
        args.server,
        token,
        name=args.name,
        spool_path=args.spool,
        pull_seconds=args.pull_seconds,
        workers=args.workers,
        capture=not args.no_capture,
        max_seconds=args.max_seconds,
    )
