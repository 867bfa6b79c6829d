"""Running the server: open the store, make sure there is an admin token, serve under uvicorn.

Layer: server/. `serve` is what `mtuscope serve` calls. The admin token is
printed once, to standard error, the first time a store is opened without
MTUSCOPE_ADMIN_TOKEN; afterwards only its hash exists. uvicorn handles SIGINT
and SIGTERM: requests in flight finish, then the background thread stops.
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from mtuscope.server.app import create_app
from mtuscope.server.auth import ensure_admin_token
from mtuscope.server.config import ServerConfig
from mtuscope.store.database import open_store

ADMIN_ENV = "MTUSCOPE_ADMIN_TOKEN"


def serve(db_url: str, host: str, port: int, *, config: ServerConfig | None = None) -> int:
    """Serve until stopped; the exit code (0).

    Raises:
        UsageError: a database URL that names no supported database.
    """
    store = open_store(db_url)
    try:
        token = ensure_admin_token(store, os.environ.get(ADMIN_ENV))
        if token is not None:
            print(
                f"admin token (shown once; set {ADMIN_ENV} to choose one): {token}", file=sys.stderr
            )
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        app = create_app(store, config)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on")
        )
        print(
            f"mtuscope serve: http://{_url_host(host)}:{port}/ (store {_safe(db_url)})",
            file=sys.stderr,
        )
        server.run()
    finally:
        store.close()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _safe(url: str) -> str:
    """The URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
