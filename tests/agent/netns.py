"""HTTP calls from inside a lab namespace: a thread that has joined it (setns).

A network namespace is per thread on Linux: the one thread of `NetnsHttp`
calls setns(2) on the namespace's /run/netns file, then makes every request
it is handed, so the test talks to a server listening on 127.0.0.1 inside the
client namespace, as the agent there does, without starting a process per call.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import httpx

CLONE_NEWNET = 0x40000000


class NetnsHttp:
    """An httpx client whose sockets live in namespace `name`."""

    def __init__(self, name: str, *, timeout: float = 10.0) -> None:
        self._jobs: queue.Queue[tuple[Callable[[httpx.Client], Any], Future[Any]] | None] = (
            queue.Queue()
        )
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(name, timeout, ready), name=f"netns-{name}", daemon=True
        )
        self._thread.start()
        ready.result(timeout=10)

    def _serve(self, name: str, timeout: float, ready: Future[None]) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {name}")
            finally:
                os.close(fd)
            client = httpx.Client(timeout=timeout)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        with client:
            while (job := self._jobs.get()) is not None:
                fn, done = job
                try:
                    done.set_result(fn(client))
                except BaseException as exc:
                    done.set_exception(exc)

    def call(self, fn: Callable[[httpx.Client], Any]) -> Any:
        done: Future[Any] = Future()
        self._jobs.put((fn, done))
        return done.result(timeout=60)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        response: httpx.Response = self.call(lambda c: c.get(url, **kw))
        return response

    def post(self, url: str, **kw: Any) -> httpx.Response:
        response: httpx.Response = self.call(lambda c: c.post(url, **kw))
        return response

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)
