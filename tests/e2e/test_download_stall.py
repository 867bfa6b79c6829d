"""`mtuscope probe --port P --download N`: "the handshake works, then the transfer stalls".

A real download from the lab's own HTTP listener (`Lab.up(..., listen=True)`,
as `mtuscope lab up` starts it), which says nothing until it gets a request:
`probe` sends an HTTP GET first. In `blackhole` the full-size segments of the
answer vanish and the report says so from the transfer itself (an ERROR, exit
1); in `mtu-drop` and `clean` PMTUD works and the same download completes
("download completed: N bytes, largest segment S") without a black-hole
finding, exit 0. IPv4 and IPv6.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mtuscope.lab import LISTENER_PORT, Lab
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
WANT = 100_000


def _probe(lab: Lab, family: int, *extra: str) -> tuple[int, str]:
    server = str(lab.address("server", family))
    argv = ["probe", server, "--port", str(LISTENER_PORT), "--download", str(WANT), *extra]
    done = lab.exec(
        "client",
        ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv],
        check=False,
        timeout=90,
    )
    return done.returncode, done.stdout


def _both(scenario: str, family: int) -> tuple[int, dict[str, Any], int, str]:
    """The JSON report and the text report of the same download, and their exit codes."""
    with Lab.up(scenario, listen=True) as lab:
        assert lab.listener_port == LISTENER_PORT
        code, out = _probe(lab, family, "--json")
        doc: dict[str, Any] = json.loads(out)
        lab.flush_pmtu_cache()
        text_code, text = _probe(lab, family)
    validate_report(doc)
    return code, doc, text_code, text


@pytest.mark.parametrize("family", [4, 6])
def test_stalled_download_is_a_black_hole(family: int) -> None:
    code, doc, text_code, text = _both("blackhole", family)
    stalls = [
        f for f in doc["findings"] if f["kind"] == "pmtud-blackhole" and "download" in f["summary"]
    ]
    assert code == 1 and stalls and stalls[0]["severity"] == "error"
    assert doc["pmtu"] == 1400
    download = doc["mss"]["download"]
    assert download["request"] == "http-get" and download["verdict"] == "stalled"
    assert download["bytes"] < WANT
    assert text_code == 1 and "download stalled after" in text
    assert "download completed" not in text


@pytest.mark.parametrize("scenario", ["mtu-drop", "clean"])
@pytest.mark.parametrize("family", [4, 6])
def test_download_completes_when_pmtud_works(scenario: str, family: int) -> None:
    code, doc, text_code, text = _both(scenario, family)
    assert code == 0, doc["findings"]
    assert not [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]
    download = doc["mss"]["download"]
    assert download["request"] == "http-get" and download["verdict"] == "complete"
    assert download["bytes"] == WANT
    # Full-size segments came: the path's MTU less the IP and TCP headers and timestamps.
    path_mtu = 1400 if scenario == "mtu-drop" else 1500
    full = path_mtu - (40 if family == 4 else 60) - 12
    assert download["largest_segment"] == full
    effective = doc["mss"]["effective"]
    assert effective is not None and effective <= full
    assert text_code == 0
    assert f"download completed: {WANT} bytes, largest segment {full}" in text
    assert "stalled" not in text
