"""The processes of `mtuscope lab demo`: started, watched and stopped; the signals.

Layer: edge (cli/). Each part (`mtuscope serve`, each `mtuscope agent`) runs in
a session of its own, so that a terminal's Ctrl-C reaches only the demo, which
stops the parts in order: SIGTERM, then SIGKILL after `STOP_SECONDS`. `until`
waits for a condition while checking that every watched process is alive (a
dead one is a `LabError` with its log's last line). `Signals` turns SIGINT,
SIGTERM and SIGHUP into `Stop`, held while a part starts and only noted during
the teardown.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mtuscope.errors import LabError

if TYPE_CHECKING:
    from mtuscope.lab import Lab

STOP_SECONDS = 20.0
"""How long a process is given to stop on SIGTERM before SIGKILL."""
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """A signal asked the demo to stop."""


def spawn(
    argv: list[str],
    *,
    env: dict[str, str],
    log: Path,
    lab: Lab | None = None,
    node: str | None = None,
) -> subprocess.Popen[bytes]:
    """A part of the demo, in a session of its own (a terminal's Ctrl-C reaches only us,
    and we stop the parts in order), its output to `log`."""
    with log.open("ab") as out:
        if lab is not None and node is not None:
            return lab.popen(node, argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=out, start_new_session=True)  # fmt: skip
        try:
            return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=out, start_new_session=True)  # fmt: skip
        except OSError as exc:
            raise LabError(f"{argv[0]}: {exc}") from exc


def until(
    what: str,
    check: Callable[[], Any],
    seconds: float,
    watched: Sequence[tuple[str, subprocess.Popen[bytes], Path]],
) -> Any:
    """What `check()` returns once it is true, asked every 0.5 s for up to `seconds`.

    Raises:
        LabError: a watched process exited, or `seconds` passed (naming `what`).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check_alive(watched)
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise LabError(f"no {what} within {seconds:.0f} s (logs in {watched[-1][2].parent})")


def check_alive(watched: Sequence[tuple[str, subprocess.Popen[bytes], Path]]) -> None:
    """Raise `LabError` (with the log's last line) for the first of (name, process, log)
    whose process has exited."""
    for name, proc, log in watched:
        if proc.poll() is not None:
            raise LabError(f"{name} exited {proc.returncode}: {last_line(log)} (log: {log})")


def last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after `STOP_SECONDS`."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class Signals:
    """SIGINT, SIGTERM and SIGHUP stop the demo: `Stop` is raised, once.

    Inside `deferred()` (starting a process and registering its teardown) a
    signal is held and raised on leaving, so no process can start unrecorded;
    once `tearing_down` is set, signals are only noted, so that a second Ctrl-C
    cannot leave a lab behind.
    """

    def __init__(self) -> None:
        self.tearing_down = False
        self._raised = False
        self._held = False
        self._deferring = 0

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.tearing_down or self._raised:
            print("mtuscope lab demo: stopping, please wait", file=sys.stderr)
            return
        if self._deferring:
            self._held = True
            return
        self._raised = True
        raise Stop

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self._held and not self._deferring and not self._raised:
            self._raised = True
            raise Stop

    @contextmanager
    def installed(self) -> Iterator[Signals]:
        previous = {sig: signal.signal(sig, self.handler) for sig in SIGNALS}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
