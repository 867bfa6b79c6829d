"""End to end in the lab: whose MSS it is, the same verdict from `probe --port` and
`responder-check` (issue 9 point 2).

Each test builds its own lab, starts its own listeners in the server namespace (an
HTTP server for `probe --port`, `mtuscope responder` for `responder-check`), talks only
to lab addresses, and stops every process it started before the lab comes down.
"""

from __future__ import annotations

import json
import os
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
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
HTTP_PORT = 8080
RESPONDER_PORT = 40777


@contextmanager
def listening(lab: Lab, argv: list[str], port: int) -> Iterator[None]:
    """Run `argv` in the server namespace until the block ends; wait (bounded) until
    something listens on TCP `port` there."""
    proc = lab.popen("server", argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 15.0
        while time.monotonic() < end:
            ss = lab.exec("server", ["ss", "-Hltn", f"sport = :{port}"], check=False)
            if ss.stdout.strip():
                break
            if proc.poll() is not None:
                pytest.fail(f"{argv[:3]} exited ({proc.returncode}) before listening")
            time.sleep(0.2)
        else:
            pytest.fail(f"nothing listened on port {port} in time")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _mtuscope(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    argv = ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *args, "--json"]
    done = lab.exec("client", argv, check=False, timeout=90)
    assert done.stdout, f"no report (exit {done.returncode}): {done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    validate_report(doc)
    return done.returncode, doc


def _probe(lab: Lab) -> tuple[int, dict[str, Any]]:
    addr = str(lab.address("server", 4))
    http = [sys.executable, "-m", "http.server", str(HTTP_PORT), "--bind", addr]
    with listening(lab, http, HTTP_PORT):
        return _mtuscope(lab, "probe", addr, "--port", str(HTTP_PORT))


def _responder_check(lab: Lab) -> tuple[int, dict[str, Any]]:
    addr = str(lab.address("server", 4))
    responder = [
        sys.executable, "-m", "mtuscope", "responder", "--bind", addr,
        "--port", str(RESPONDER_PORT),
    ]  # fmt: skip
    with listening(lab, responder, RESPONDER_PORT):
        return _mtuscope(lab, "responder-check", f"{addr}:{RESPONDER_PORT}")


def _undersized(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["kind"] == "undersized-mss"]


def test_the_path_mtu_is_the_limit_in_mtu_drop() -> None:
    with Lab.up("mtu-drop") as lab:
        code, doc = _probe(lab)
    mss = doc["mss"]
    assert doc["pmtu"] == 1400
    # Linux's send MSS lost 12 bytes to timestamps: 1348 + 12 = 1400 - 40, exactly right.
    assert mss["timestamps"] is True and mss["effective"] == 1348
    assert mss["compared"] == 1360 == mss["path_allows"]
    assert mss["owner"] == "path"
    assert _undersized(doc) == []
    assert not any(f["kind"] == "mss-rewritten" for f in doc["findings"])
    assert not any("raise it to 1360" in f["advice"] for f in doc["findings"])
    assert code == 0


def test_a_small_server_mss_is_the_servers_own_in_probe_and_responder_check() -> None:
    with Lab.up("small-mss-server") as lab:
        pcode, probe = _probe(lab)
        rcode, check = _responder_check(lab)
    assert probe["mss"]["server_announced"] == 512 and probe["mss"]["owner"] == "server"
    (one,) = _undersized(probe)
    (two,) = _undersized(check)
    for f in (one, two):
        assert f["facts"]["owner"] == "server" and f["facts"]["mss"] == 512
        assert "announces MSS 512 itself" in f["summary"]
        assert "clamp on the way lowers" not in f["advice"]
    assert one["severity"] == two["severity"] == "warning"
    # The responder proves the SYN/ACK arrived unchanged; probe's quotes show our SYN intact.
    assert two["facts"]["proven"] == "yes" and "unchanged" in two["summary"]
    assert "unchanged" in one["summary"]
    assert pcode == rcode == 0


def test_a_clamp_is_named_a_clamp_in_probe_and_responder_check() -> None:
    with Lab.up("clamp") as lab:
        clamp = lab.truth.clamp
        assert clamp is not None
        _, probe = _probe(lab)
        _, check = _responder_check(lab)
    assert probe["mss"]["owner"] == "clamp" and probe["mss"]["owner_proven"] is True
    (one,) = _undersized(probe)
    assert one["facts"]["owner"] == "clamp" and one["facts"]["mss"] == clamp.mss
    assert "A clamp before hop" in one["summary"]
    assert "Raise the `adjust-mss`/TCPMSS value to 1460" in one["advice"]
    # The routers' quotes of our SYN show the rewrite itself.
    (rw,) = [f for f in probe["findings"] if f["kind"] == "mss-rewritten"]
    assert (rw["facts"]["original_mss"], rw["facts"]["mss"]) == (1460, clamp.mss)
    assert {f["facts"]["owner"] for f in _undersized(check)} == {"clamp"}
    assert any(f["kind"] == "mss-rewritten" for f in check["findings"])
