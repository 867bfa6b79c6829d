"""End to end in the lab: `mtuscope responder` in the server namespace, `responder-check`
in the client namespace, the JSON report checked against the lab's truth.

Each test builds its own lab, talks only to lab addresses, and always stops the
responder (terminate, then kill after a bounded wait) before the lab comes down.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from e2e.lablib import lab_marks
from mtuscope.lab import Lab
from mtuscope.report.schema import validate_report

pytestmark = lab_marks("ip", "nft", "sysctl")

SRC = Path(__file__).resolve().parents[2] / "src"
PORT = 40777
ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def _mtuscope() -> list[str]:
    return [sys.executable, "-m", "mtuscope"]


@contextmanager
def responder(lab: Lab, bind: str) -> Iterator[subprocess.Popen[str]]:
    proc = lab.popen(
        "server",
        [*_mtuscope(), "responder", "--bind", bind, "--port", str(PORT)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_listening(proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        finally:
            if proc.stderr is not None:
                proc.stderr.close()


def _wait_listening(proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    assert proc.stderr is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        line = proc.stderr.readline()
        if not line:
            pytest.fail(f"the responder exited ({proc.wait(timeout=5)}) before listening")
        if "listening on" in line:
            return
    pytest.fail("the responder did not start listening in time")


def _check(lab: Lab, target: str, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = ["env", f"PYTHONPATH={SRC}", *_mtuscope(), "responder-check", target, "--json", *extra]
    done = lab.exec("client", argv, check=False, timeout=60)
    assert done.stdout, f"no report (exit {done.returncode}): {done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    validate_report(doc)
    assert doc["kind"] == "middlebox"
    return done.returncode, doc


def _target(lab: Lab, family: int) -> tuple[str, str]:
    addr = str(lab.address("server", family))
    return addr, (f"{addr}:{PORT}" if family == 4 else f"[{addr}]:{PORT}")


@pytest.mark.parametrize("family", [4, 6])
def test_clamp_rewrites_the_mss(family: int) -> None:
    with Lab.up("clamp") as lab:
        clamp = lab.truth.clamp
        assert clamp is not None
        bind, target = _target(lab, family)
        with responder(lab, bind):
            code, doc = _check(lab, target, "--no-reverse")
    te = doc["two_ended"]
    sent = 1460 if family == 4 else 1440  # 1500 less 40 (IPv4) / 60 (IPv6)
    assert te["captured"] is True
    assert te["syn"]["sent"]["mss"] == sent
    assert te["syn"]["seen"]["mss"] == clamp.mss == 1300
    assert te["changed"]["tcp.options.mss"] == [sent, clamp.mss]
    # The clamp rewrites every SYN it forwards: the SYN/ACK on the way back too.
    assert te["syn_ack"]["seen"]["mss"] == clamp.mss
    assert te["syn"]["hops"] == len(lab.truth.hops)
    rewritten = [f for f in doc["findings"] if f["kind"] == "mss-rewritten"]
    directions = sorted(f["facts"]["direction"] for f in rewritten)
    assert directions == ["client->server", "server->client"]
    up = next(f for f in rewritten if f["facts"]["direction"] == "client->server")
    assert (up["facts"]["original_mss"], up["facts"]["mss"]) == (sent, clamp.mss)
    assert not any(f["kind"] in ("isn-rewritten", "tcp-option-changed") for f in doc["findings"])
    assert code == 0


def test_clean_path_changes_nothing() -> None:
    with Lab.up("clean") as lab:
        bind, target = _target(lab, 4)
        with responder(lab, bind):
            code, doc = _check(lab, target)
    te = doc["two_ended"]
    assert te["captured"] is True
    assert te["changed"] == {} and te["translated"] == {}
    assert te["syn"]["sent"]["seq"] == te["syn"]["seen"]["seq"]
    assert doc["findings"] == []
    assert doc["pmtu_reverse"] == lab.truth.reverse.pmtu(4) == 1500
    assert code == 0


@pytest.mark.parametrize("family", [4, 6])
def test_mtu_drop_reverse_pmtu(family: int) -> None:
    with Lab.up("mtu-drop") as lab:
        bind, target = _target(lab, family)
        with responder(lab, bind):
            code, doc = _check(lab, target)
            argv = ["env", f"PYTHONPATH={SRC}", *_mtuscope(), "responder-check", target]
            text = lab.exec("client", argv, check=False, timeout=60)
            # No port: the responder's own (the one it listens on) is taken.
            bare = lab.exec("client", [*argv[:-1], bind, "--no-reverse"], check=False, timeout=60)
        closed = lab.exec("client", [*argv[:-1], target, "--no-reverse"], check=False, timeout=60)
    # The text says what the JSON says, once: the block, and the reverse path MTU.
    assert text.returncode == code, text.stderr
    assert text.stdout.count("Two-ended check with") == 1
    assert text.stdout.count(f"path MTU back toward us: {lab.truth.reverse.pmtu(family)}") == 1
    assert bare.returncode in (0, 1) and "Two-ended check with" in bare.stdout, bare.stderr
    # The responder is gone: its port is closed, which is a result (exit 1), in one line.
    assert closed.returncode == 1 and closed.stdout == ""
    (line,) = closed.stderr.strip().splitlines()
    assert "nothing listens on" in line
    truth = lab.truth.reverse.pmtu(family)
    assert truth == 1400
    assert doc["pmtu_reverse"] == truth
    assert doc["reverse"]["transport"] == "raw"
    assert doc["reverse_path"]["target"]["address"] == str(lab.address("client", family))
    assert doc["two_ended"]["changed"] == {}
    # Our full-size MSS does not fit the path back; PMTU discovery saves it (the reverse
    # search drew too-big messages): a warning, as analyze says of the same facts.
    kinds = [(f["kind"], f["severity"]) for f in doc["findings"]]
    assert kinds == [("oversized-mss", "warning")]
    assert code == 0


def test_probe_with_responder_reports_both_directions() -> None:
    with Lab.up("mtu-drop") as lab:
        bind, target = _target(lab, 4)
        with responder(lab, bind):
            argv = ["env", f"PYTHONPATH={SRC}", *_mtuscope(), "probe", bind, "--json"]
            done = lab.exec("client", [*argv, "--responder", target], check=False, timeout=90)
    doc: dict[str, Any] = json.loads(done.stdout)
    validate_report(doc)
    assert doc["kind"] == "path"
    assert doc["pmtu"] == lab.truth.forward.pmtu(4) == 1400
    assert doc["pmtu_reverse"] == lab.truth.reverse.pmtu(4) == 1400
    assert doc["two_ended"]["changed"] == {}
    assert done.returncode in (0, 1)
