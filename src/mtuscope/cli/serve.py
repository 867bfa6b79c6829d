"""`mtuscope serve`: the monitoring server (DESIGN.md "Monitoring: contract").

Layer: edge (argument parsing only); the server is `server.main.serve`.
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_DB = "sqlite:///mtuscope.db"
DEFAULT_LISTEN = "127.0.0.1:8077"


def add_parser(sub: Any) -> None:
    """Add the `serve` verb."""
    p = sub.add_parser(
        "serve",
        help="run the monitoring server: API, history, alerts, dashboard",
        description="Serve the monitoring API, /metrics and the dashboard. The store is a "
        "SQLite file by default, or PostgreSQL by URL; migrations run at start. The admin "
        "token is MTUSCOPE_ADMIN_TOKEN if set, else made once and printed once.",
    )
    p.add_argument("--db", default=DEFAULT_DB, metavar="URL", help=f"store URL ({DEFAULT_DB})")
    p.add_argument(
        "--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT", help=f"address ({DEFAULT_LISTEN})"
    )
    p.add_argument(
        "--upload-limit",
        type=int,
        default=64 * 1024 * 1024,
        metavar="BYTES",
        help="largest capture the dashboard accepts for analysis (64 MiB; 413 beyond)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes on the one address (1); they share the store",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from mtuscope.errors import UsageError
    from mtuscope.jobs.inputs import split_host_port
    from mtuscope.server.config import ServerConfig
    from mtuscope.server.main import serve

    host, port = split_host_port(args.listen, what="--listen", port_required=True)
    assert port is not None
    if args.upload_limit < 1:
        raise UsageError(f"--upload-limit {args.upload_limit}: must be a positive number of bytes")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers}: want 1..64")
    return serve(
        args.db,
        host,
        port,
        config=ServerConfig(upload_limit=args.upload_limit),
        workers=args.workers,
    )
