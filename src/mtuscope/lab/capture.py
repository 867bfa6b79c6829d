"""tcpdump running inside a lab namespace, as a context manager.

Layer: lab (an edge). Starts and stops one tcpdump process and reports what it
counted; it decodes nothing (that is capture/'s job) and never captures outside
the lab's own namespaces.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from mtuscope.errors import LabError
from mtuscope.lab.teardown import TornDownOnExit

_COUNTS = re.compile(r"(\d+) packets? (captured|received by filter|dropped by kernel)")


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureStats:
    """What tcpdump said when it stopped."""

    path: Path
    captured: int
    """Packets written to the file."""
    dropped_by_kernel: int


class Capture(TornDownOnExit):
    """tcpdump writing one interface of one namespace to a pcap file.

    Use it as a context manager: entering returns once tcpdump says it is
    listening, so no packet sent afterwards is missed; leaving stops it with
    SIGINT (so it flushes and closes the file) and fills in `stats`.
    """

    def __init__(
        self,
        namespace: str,
        interface: str,
        path: Path | str,
        *,
        snaplen: int = 262144,
        bpf: Sequence[str] = (),
        ready_timeout: float = 5.0,
    ) -> None:
        """Prepare (not start) a capture.

        Args:
            namespace: the lab namespace to capture in.
            interface: the interface inside it.
            path: the pcap file to write.
            snaplen: bytes kept of each packet (tcpdump `-s`).
            bpf: a capture filter, as tcpdump arguments (e.g. ``("tcp", "or", "icmp")``).
            ready_timeout: seconds to wait for tcpdump to start listening.
        """
        self.path = Path(path)
        self.stats: CaptureStats | None = None
        self._ready_timeout = ready_timeout
        # -U: write each packet as it comes, so the file is whole even if we are
        # killed; --immediate-mode: hand each packet over at once (otherwise
        # TPACKET_V3 holds a block up to a second, and SIGINT drops it unread);
        # -Z root: keep privileges so the file can go anywhere; -n: no DNS.
        self._argv = (
            "ip", "netns", "exec", namespace,
            "tcpdump", "-i", interface, "-U", "--immediate-mode", "-n", "-Z", "root",
            "-s", str(snaplen), "-w", str(self.path), *bpf,
        )  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start tcpdump and wait until it is listening.

        Raises:
            LabError: tcpdump is missing, exited, or did not start listening in time.
        """
        try:
            proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise LabError(f"tcpdump: {exc}", command=self._argv) from exc
        self._proc = proc
        assert proc.stderr is not None  # we asked for a pipe
        seen = b""
        deadline = time.monotonic() + self._ready_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stderr, selectors.EVENT_READ)
            while b"listening on" not in seen:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    self._kill()
                    raise LabError("tcpdump did not start listening in time", command=self._argv)
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    code = proc.wait(timeout=5)
                    text = seen.decode(errors="replace").strip()
                    raise LabError(
                        f"tcpdump exited ({code}): {text}",
                        command=self._argv,
                        returncode=code,
                        stderr=text,
                    )
                seen += chunk

    def stop(self) -> CaptureStats:
        """Stop tcpdump (SIGINT) and collect its counts.

        Returns:
            The counts tcpdump printed as it stopped.

        Raises:
            LabError: the capture was not started, or tcpdump did not stop.
        """
        proc = self._proc
        if proc is None:
            raise LabError("capture not started", command=self._argv)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired as exc:
            self._kill()
            raise LabError("tcpdump did not stop", command=self._argv) from exc
        finally:
            self._proc = None
        counts = {kind: int(n) for n, kind in _COUNTS.findall(err.decode(errors="replace"))}
        self.stats = CaptureStats(
            path=self.path,
            captured=counts.get("captured", 0),
            dropped_by_kernel=counts.get("dropped by kernel", 0),
        )
        return self.stats

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def _teardown(self) -> None:
        # A failed stop has killed tcpdump already; the file stays either way.
        if self._proc is not None:
            self.stop()
