"""`mtuscope probe --port P --download N`: "the handshake works, then the transfer stalls".

A real download through the lab: in `blackhole` the full-size segments vanish and
the report says so from the transfer itself; in `mtu-drop` PMTUD works and the
same download completes without a black-hole finding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mtuscope.lab import Lab
from mtuscope.lab.traffic import server_argv
from mtuscope.report.schema import validate_report

pytestmark = [
    pytest.mark.raw_socket,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux namespaces"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="needs root (network namespaces, raw sockets)",
    ),
]

SRC = str(Path(__file__).resolve().parents[2] / "src")
PORT = 8080


def _probe_with_download(scenario: str) -> tuple[int, dict[str, Any]]:
    with Lab.up(scenario) as lab:
        server = str(lab.address("server", 4))
        srv = lab.popen(
            "server",
            server_argv(server, PORT, nbytes=200_000, timeout=20),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)  # let it listen
            argv = ["probe", server, "--port", str(PORT), "--download", "100000", "--json"]
            done = lab.exec(
                "client",
                ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv],
                check=False,
                timeout=90,
            )
        finally:
            srv.kill()
            srv.wait(timeout=10)
    doc: dict[str, Any] = json.loads(done.stdout)
    validate_report(doc)
    return done.returncode, doc


def test_stalled_download_is_a_black_hole() -> None:
    code, doc = _probe_with_download("blackhole")
    stalls = [
        f for f in doc["findings"] if f["kind"] == "pmtud-blackhole" and "download" in f["summary"]
    ]
    assert code == 1 and stalls and stalls[0]["severity"] == "error"
    assert doc["pmtu"] == 1400


def test_download_completes_when_pmtud_works() -> None:
    code, doc = _probe_with_download("mtu-drop")
    assert code == 0
    assert not [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]
    assert doc["mss"]["effective"] is not None and doc["mss"]["effective"] <= 1360
