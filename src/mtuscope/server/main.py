"""Running the server: open the store, make sure there is an admin token, serve under uvicorn.

Layer: server/. `serve` is what `mtuscope serve` calls. The admin token is
printed once, to standard error, the first time a store is opened without
MTUSCOPE_ADMIN_TOKEN; afterwards only its hash exists. uvicorn handles SIGINT
and SIGTERM: requests in flight finish, then the background thread stops.

With `workers` > 1 uvicorn runs that many processes on one socket: this process
migrates the store and makes the admin token, then each worker opens the store
itself (`worker_app`, told the URL and the config through the environment) and
runs its own background passes, which tolerate each other (server/background.py).
On SQLite the workers' writers queue on the file's lock (`Store.writing`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys

import uvicorn
from fastapi import FastAPI

from mtuscope.server.app import create_app
from mtuscope.server.auth import ensure_admin_token
from mtuscope.server.config import ServerConfig
from mtuscope.store.database import open_store

ADMIN_ENV = "MTUSCOPE_ADMIN_TOKEN"
WORKER_ENV = "MTUSCOPE_SERVE_WORKER"
"""JSON {db, config} for the worker processes of `serve --workers N`."""


def worker_app() -> FastAPI:
    """The application of one worker process (uvicorn's factory under `--workers`)."""
    told = json.loads(os.environ[WORKER_ENV])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = open_store(told["db"], upgrade=False)
    return create_app(store, ServerConfig(**told["config"]))


def serve(
    db_url: str, host: str, port: int, *, config: ServerConfig | None = None, workers: int = 1
) -> int:
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
        if workers > 1:
            store.close()
            cfg = config or ServerConfig()
            os.environ[WORKER_ENV] = json.dumps({"db": db_url, "config": dataclasses.asdict(cfg)})
            print(
                f"mtuscope serve: http://{_url_host(host)}:{port}/ (store {_safe(db_url)}, "
                f"{workers} workers)",
                file=sys.stderr,
            )
            uvicorn.run(
                "mtuscope.server.main:worker_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
                lifespan="on",
            )
            return 0
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
