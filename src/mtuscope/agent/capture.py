"""Beyond every anchor: a short tcpdump of one test, analysed like `mtuscope analyze`.

Layer: agent/. When a test finds a black hole or a clamp that changed, the
runner runs it once more inside `recording(address)`: tcpdump on every
interface (`-i any`, Linux cooked headers) with the filter
`host ADDR and (tcp or icmp or icmp6)`, bounded in packets (`-c`), bytes per
packet (`-s`) and seconds (killed past `max_seconds`). Its file then goes
through `jobs.analyze` and `report.serialize`, exactly as
`mtuscope analyze --json` would print it, and rides with the result as
`capture`.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtuscope.errors import MtuscopeError

log = logging.getLogger("mtuscope.agent.capture")

MAX_PACKETS = 2000
"""tcpdump stops after this many packets."""
SNAPLEN = 2048
"""Bytes kept of each packet: headers and quotes, not whole payloads."""
MAX_SECONDS = 40.0
"""tcpdump is killed after this long whatever the test does."""
READY_SECONDS = 5.0
"""How long tcpdump may take to say it is listening."""


class CaptureUnavailable(MtuscopeError):
    """tcpdump is missing or did not start: the test runs without a capture."""


@dataclass
class Recording:
    """A capture in progress; after the `with` block, `report` holds its analysis."""

    path: Path
    argv: list[str]
    packets: int | None = None
    """Packets tcpdump reported capturing, when it said."""
    report: dict[str, Any] | None = None
    """The `capture` JSON report (None: see `notes`)."""
    notes: list[str] = field(default_factory=list)


def capture_filter(address: str) -> list[str]:
    """The tcpdump filter for one destination (an address, never a name)."""
    return ["host", address, "and", "(", "tcp", "or", "icmp", "or", "icmp6", ")"]


@contextmanager
def recording(
    address: str,
    *,
    directory: str | Path | None = None,
    max_packets: int = MAX_PACKETS,
    max_seconds: float = MAX_SECONDS,
) -> Iterator[Recording]:
    """Run tcpdump around the block, then analyse its file (removed afterwards).

    Raises:
        CaptureUnavailable: no tcpdump, or it exited or did not start listening in time.
    """
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise CaptureUnavailable("tcpdump is not installed: no capture taken")
    with tempfile.TemporaryDirectory(prefix="mtuscope-agent-", dir=directory) as top:
        path = Path(top) / "test.pcap"
        argv = [
            tcpdump, "-i", "any", "-U", "--immediate-mode", "-n", "-Z", "root",
            "-s", str(SNAPLEN), "-c", str(max_packets), "-w", str(path),
            *capture_filter(address),
        ]  # fmt: skip
        proc = _start(argv)
        rec = Recording(path=path, argv=argv)
        started = time.monotonic()
        try:
            yield rec
        finally:
            rec.packets = _stop(proc, started + max_seconds)
        if not path.exists():
            rec.notes.append("tcpdump wrote no file")
            return
        try:
            rec.report = analyze_report(path)
        except MtuscopeError as exc:
            rec.notes.append(f"the capture did not analyse: {exc}")


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise CaptureUnavailable(f"tcpdump: {exc}") from None
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + READY_SECONDS
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while b"listening on" not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                proc.kill()
                proc.wait(timeout=5)
                raise CaptureUnavailable("tcpdump did not start listening in time")
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                code = proc.wait(timeout=5)
                text = " ".join(seen.decode(errors="replace").split())[:200]
                raise CaptureUnavailable(f"tcpdump exited {code}: {text}")
            seen += chunk
    return proc


def _stop(proc: subprocess.Popen[bytes], kill_at: float) -> int | None:
    """SIGINT (tcpdump flushes and closes the file), SIGKILL past `kill_at`; packets seen."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=max(1.0, kill_at - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    assert proc.stderr is not None
    text = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1:3] == ["packets", "captured"]:
            return int(words[0])
    return None


def analyze_report(path: Path) -> dict[str, Any]:
    """The `capture` JSON report of one pcap, as `mtuscope analyze --json` prints it."""
    from mtuscope.jobs.analyze import AnalyzeOptions, analyze
    from mtuscope.report.serialize import to_dict

    return to_dict(analyze(AnalyzeOptions(paths=(str(path),), workers=1)))
