"""Issue 9 point 8 without a lab: Ctrl-C on `analyze -` fed from a pipe keeps the
analysis of what arrived; a second Ctrl-C exits at once."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from mtuscope.jobs.interrupts import Interrupts
from mtuscope.report.schema import validate_report

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")


def _waiting_on_pipe(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """True once `proc` has drained its stdin pipe and sleeps reading it."""
    assert proc.stdin is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        unread = struct.unpack("i", fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0" * 4))
        wchan = Path(f"/proc/{proc.pid}/wchan").read_text()
        if unread[0] == 0 and "pipe" in wchan:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_analyze_from_a_pipe_reports_what_arrived_on_interrupt(sig: int) -> None:
    # As `tcpdump -w - | mtuscope analyze -`: the capture arrives, the pipe stays open.
    data = (ROOT / "examples" / "blackhole-client.pcap").read_bytes()
    whole = subprocess.run(
        [sys.executable, "-m", "mtuscope", "analyze", "-", "--json"],
        input=data,
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    expected = json.loads(whole.stdout)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "analyze", "-", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.flush()
        assert _waiting_on_pipe(proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    validate_report(doc)
    packets = expected["captures"][0]["packets"]
    assert packets > 0 and doc["captures"][0]["packets"] == packets
    assert f"-: interrupted after {packets} packets" in doc["warnings"]
    assert doc["findings"] == expected["findings"]
    assert doc["connections"] == expected["connections"]


def test_analyze_text_from_a_pipe_prints_the_report_on_interrupt() -> None:
    data = (ROOT / "examples" / "blackhole-client.pcap").read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "analyze", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=False,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.flush()
        assert _waiting_on_pipe(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert b"pmtud-blackhole" in out and b"interrupted after 5 packets" in err


def test_interrupted_before_anything_arrived_says_so_and_exits_130() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "analyze", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        assert _waiting_on_pipe(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130 and b"Traceback" not in err
    assert "-: interrupted after 0 packets" in err.decode()


def test_the_second_interrupt_exits_at_once() -> None:
    # The first interrupt is only noted outside an armed region of a keeping job; the
    # second one ends the process at once, whatever it is doing.
    code = (
        "import signal, sys, time\n"
        "from mtuscope.jobs.interrupts import INTERRUPTS\n"
        "signal.signal(signal.SIGINT, lambda s, f: INTERRUPTS.request())\n"
        "with INTERRUPTS.keeping():\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "sys.exit(5)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=ENV, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert proc.poll() is None  # noted, not raised: the job goes on
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == 130 and time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_interrupts_raise_in_armed_regions_and_on_entry_after_a_request() -> None:
    it = Interrupts()
    with it.keeping():
        it.request()  # not armed: only noted
        assert it.requested
        with pytest.raises(KeyboardInterrupt), it.armed():
            pass  # raised on entry
    it.reset()
    with pytest.raises(KeyboardInterrupt), it.keeping(), it.armed():
        it.request()
    it.reset()
    with pytest.raises(KeyboardInterrupt):
        it.request()  # outside a keeping job: at once, like Python's default handler
