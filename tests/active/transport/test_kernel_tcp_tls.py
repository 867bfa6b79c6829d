"""`tcp_mss` with a download after a TLS ClientHello, against a real TLS server on loopback.

Python's ssl module (OpenSSL) serves a self-signed certificate made here with
the `openssl` command; the server must accept our ClientHello (it reads the SNI
name and sends its first flight), and the download must end "complete" once
that flight came whole, not "stalled" while the server waits for us.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from ipaddress import ip_address
from pathlib import Path

import pytest

from mtuscope.active.mss import RequestKind, TransferVerdict, classify_transfer
from mtuscope.active.transport import tcp_mss
from mtuscope.jobs.probe import download_request

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=lab.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class TlsServer:
    """One TLS connection served on loopback: what the server saw of our hello."""

    def __init__(self, address: str, cert: tuple[Path, Path], maximum: ssl.TLSVersion) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert)
        self.context.maximum_version = maximum
        self.context.sni_callback = self._sni
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((address, 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port: int = self.listener.getsockname()[1]
        self.server_name: str | None = None
        self.hello_accepted = False
        self.error: str | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _sni(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
        self.server_name = name
        self.hello_accepted = True  # OpenSSL parsed the whole ClientHello to get here

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            return
        conn.settimeout(10)
        # wrap_socket takes conn over: closing the TLS socket closes it.
        with self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
            try:
                tls.do_handshake()  # blocks for our next flight, which never comes
            except (ssl.SSLError, OSError) as exc:
                self.error = type(exc).__name__

    def close(self) -> None:
        self.thread.join(timeout=15)
        self.listener.close()


def _loopback(family: int) -> str:
    address = "::1" if family == 6 else "127.0.0.1"
    if family == 6:
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind((address, 0))
        except OSError:
            pytest.skip("no IPv6 on loopback")
    return address


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_tls_server_accepts_our_hello_and_the_download_completes(
    certificate: tuple[Path, Path], family: int, maximum: ssl.TLSVersion
) -> None:
    address = _loopback(family)
    server = TlsServer(address, certificate, maximum)
    try:
        kind, hello = download_request("tls", host="lab.example", port=server.port)
        facts = tcp_mss(
            ip_address(address),
            server.port,
            download=100_000,
            request=hello,
            request_kind=kind,
            stall=1.0,
            max_seconds=8,
        )
    finally:
        server.close()
    assert server.hello_accepted and server.server_name == "lab.example"
    transfer = facts.transfer
    assert transfer is not None and transfer.request is RequestKind.TLS_CLIENT_HELLO
    # The server's first flight (certificate included) came, and then it waited for us.
    assert transfer.moved_bytes > 1000 and transfer.server_done and not transfer.stalled
    assert classify_transfer(transfer) is TransferVerdict.COMPLETE
    assert transfer.largest_segment is not None and transfer.largest_segment > 536


def test_without_a_hello_the_tls_server_says_nothing_and_that_stalls(
    certificate: tuple[Path, Path],
) -> None:
    # What `--download` did before it sent a request: a TLS server waits in silence.
    server = TlsServer("127.0.0.1", certificate, ssl.TLSVersion.TLSv1_3)
    try:
        facts = tcp_mss("127.0.0.1", server.port, download=100_000, stall=0.5, max_seconds=3)
    finally:
        server.close()
    assert facts.transfer is not None and facts.transfer.moved_bytes == 0
    assert classify_transfer(facts.transfer) is TransferVerdict.STALLED


def test_port_443_defaults_to_a_client_hello_and_other_ports_to_http() -> None:
    kind, hello = download_request(None, host="lab.example", port=443)
    assert kind is RequestKind.TLS_CLIENT_HELLO and hello[:1] == b"\x16"
    assert b"lab.example" in hello
    again = download_request(None, host="lab.example", port=443)[1]
    assert again[11:43] != hello[11:43]  # a fresh ClientHello.random each time
    kind, get = download_request(None, host="lab.example", port=8080)
    assert kind is RequestKind.HTTP_GET and get.startswith(b"GET / HTTP/1.1\r\n")
    assert download_request("none", host="x", port=443) == (RequestKind.NONE, b"")
    kind, own = download_request(r"PING\r\n", host="x", port=7)
    assert (kind, own) == (RequestKind.USER, b"PING\r\n")
