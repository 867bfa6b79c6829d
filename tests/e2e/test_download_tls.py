"""`mtuscope probe --port 443 --download N`: a TLS ClientHello makes the server talk.

A TLS server (Python's ssl, a self-signed 4096-bit RSA certificate made here
with `openssl`, so that its first flight is larger than one full-size segment)
listens on port 443 of the lab's server. `probe` sends a ClientHello by default
on port 443: in `mtu-drop` the server's flight arrives whole and the download
completes (exit 0, no stall); in `blackhole` its full-size segments vanish and
the stall is an ERROR (exit 1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtuscope.lab import Lab
from mtuscope.report.schema import validate_report

pytestmark = [
    pytest.mark.raw_socket,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux namespaces"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="needs root (network namespaces, raw sockets)",
    ),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI"),
]

SRC = str(Path(__file__).resolve().parents[2] / "src")
PORT = 443

# A TLS server bounded in connections (8) and time (60 s): each handshake waits
# at most 5 s for the client's next flight, which `probe` never sends.
SERVER = """
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket(socket.AF_INET6)
ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::", int(sys.argv[3])))
ls.listen(8)
print("listening", flush=True)
end = time.monotonic() + 60
ls.settimeout(1)
for _ in range(8):
    while time.monotonic() < end:
        try:
            conn, _ = ls.accept()
            break
        except TimeoutError:
            continue
    else:
        break
    conn.settimeout(5)
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            pass
    except (ssl.SSLError, OSError):
        pass
"""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-days", "1",
         "-subj", "/CN=server.lab.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return cert, key


def _probe_tls(scenario: str, family: int, cert: tuple[Path, Path]) -> tuple[int, dict[str, Any]]:
    with Lab.up(scenario) as lab:
        server = lab.popen(
            "server",
            [sys.executable, "-c", SERVER, str(cert[0]), str(cert[1]), str(PORT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "listening"
            address = str(lab.address("server", family))
            argv = ["probe", address, "--port", str(PORT), "--download", "100000", "--json"]
            done = lab.exec(
                "client",
                ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv],
                check=False,
                timeout=90,
            )
        finally:
            server.kill()
            server.wait(timeout=10)
            if server.stdout is not None:
                server.stdout.close()
    doc: dict[str, Any] = json.loads(done.stdout)
    validate_report(doc)
    return done.returncode, doc


@pytest.mark.parametrize("family", [4, 6])
def test_tls_download_completes_when_pmtud_works(
    family: int, certificate: tuple[Path, Path]
) -> None:
    code, doc = _probe_tls("mtu-drop", family, certificate)
    download = doc["mss"]["download"]
    assert download["request"] == "tls-client-hello" and download["verdict"] == "complete"
    assert download["server_done"] and download["bytes"] > 2000  # a flight over one segment
    full = 1400 - (40 if family == 4 else 60) - 12
    assert download["largest_segment"] == full
    assert code == 0 and not [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]


@pytest.mark.parametrize("family", [4, 6])
def test_tls_download_stalls_in_a_black_hole(family: int, certificate: tuple[Path, Path]) -> None:
    code, doc = _probe_tls("blackhole", family, certificate)
    download = doc["mss"]["download"]
    assert download["request"] == "tls-client-hello" and download["verdict"] == "stalled"
    stalls = [f for f in doc["findings"] if "download" in f["summary"]]
    assert code == 1 and stalls and stalls[0]["severity"] == "error"
