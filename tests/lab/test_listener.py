"""The lab's HTTP listener: on the server node of every scenario, gone with the lab.

`Lab.up(..., listen=True)` (what `mtuscope lab up` does) starts it on
`LISTENER_PORT`; a client in the lab gets an HTTP answer on IPv4 and IPv6 in
every scenario (in `blackhole-filtered-dst` too, whose server answers TCP on
that port only), and `mtuscope probe --port 8080` reports the server's own MSS
instead of "connection refused". Teardown kills it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.lab import FILTERED_PORT, LISTENER_BYTES, LISTENER_PORT, SCENARIOS, Lab, down_all
from mtuscope.lab.middlebox_scenarios import SERVICE_PORT

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or os.geteuid() != 0
    or not shutil.which("ip")
    or not shutil.which("nft"),
    reason="needs Linux, root (CAP_NET_ADMIN), ip and nft",
)

SRC = str(Path(__file__).resolve().parents[2] / "src")

# Connect, GET, read the status line and headers (they fit one small segment, so
# they come even where full-size segments vanish), print them; bounded by 5 s.
FETCH = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\n\\r\\n")
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
print(head.split(b"\\r\\n\\r\\n")[0].decode())
"""


def test_one_port_fits_every_scenario() -> None:
    assert LISTENER_PORT == FILTERED_PORT  # the one port blackhole-filtered-dst answers
    assert LISTENER_PORT != SERVICE_PORT  # tcp-relay redirects that one to its relay
    for scenario in SCENARIOS.values():
        assert scenario.server_tcp_port in (None, LISTENER_PORT)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_serves_http_on_the_listener_port(name: str) -> None:
    with Lab.up(name, listen=True) as lab:
        pid = lab.listener_pid
        assert lab.listener_port == LISTENER_PORT and pid is not None
        for family in (4, 6):
            server = str(lab.address("server", family))
            got = lab.exec(
                "client", [sys.executable, "-c", FETCH, server, str(LISTENER_PORT)], timeout=20
            )
            head = got.stdout.splitlines()
            assert head[0] == "HTTP/1.1 200 OK", (name, family, got.stdout)
            assert f"Content-Length: {LISTENER_BYTES}" in head
    assert _gone(pid)  # down() took the listener with the namespace


def _gone(pid: int, seconds: float = 5.0) -> bool:
    """True once `pid` has ended (a zombie waiting for init counts as ended)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def _lab_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTUSCOPE_LAB_DIR", str(tmp_path / "labs"))


@pytest.mark.usefixtures("_lab_state")
@pytest.mark.parametrize("name", ["blackhole-filtered-dst", "tcp-relay"])
def test_lab_up_listens_and_probe_reports_the_server_mss(
    name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    run_id = "l" + secrets.token_hex(3)
    try:
        assert main(["lab", "up", name, "--id", run_id, "--json"]) == 0
        doc = json.loads(capfd.readouterr().out)
        assert doc["listener"] == {"node": "server", "port": LISTENER_PORT, "bytes": LISTENER_BYTES}
        assert main(["lab", "list", "--json"]) == 0
        listed = json.loads(capfd.readouterr().out)["scenarios"]
        assert {s["listener_port"] for s in listed} == {LISTENER_PORT}
        lab = Lab.attach(name, run_id)
        server = str(lab.address("server", 4))
        argv = ["probe", server, "--port", str(LISTENER_PORT), "--json", "--max-seconds", "40"]
        done = lab.exec(
            "client",
            ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv],
            check=False,
            timeout=90,
        )
        report = json.loads(done.stdout)
        assert report["mss"]["server_announced"] == lab.truth.server_mss(4), report["warnings"]
        assert report["mss"]["effective"] is not None
        assert not [w for w in report["warnings"] if "refused" in w]
        assert main(["lab", "down", run_id]) == 0
    finally:
        down_all(f"mtus-{run_id}-")


@pytest.mark.usefixtures("_lab_state")
def test_lab_up_text_names_the_listener(capfd: pytest.CaptureFixture[str]) -> None:
    run_id = "t" + secrets.token_hex(3)
    try:
        assert main(["lab", "up", "clean", "--id", run_id]) == 0
        out = capfd.readouterr().out
        assert f"server listens: HTTP on TCP port {LISTENER_PORT} (IPv4 and IPv6)" in out
        assert f"--port {LISTENER_PORT} --download {LISTENER_BYTES}" in out
    finally:
        down_all(f"mtus-{run_id}-")
