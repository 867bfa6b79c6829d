"""`probe --download N --request WHAT`: bad requests are one line and exit 2, before any probe;
a real download from loopback through the CLI ends "download completed"."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from mtuscope.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--download", "10", "--request", r"GET \q"], "unknown escape \\q at character 5"),
        (["--download", "10", "--request", ""], "the request is empty"),
        (["--request", "http"], "--request needs --download"),
    ],
)
def test_bad_requests_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", "127.0.0.1", "--port", "8080", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and captured.out == ""


class _Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = bytes(200_000)
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path} {self.headers.get('Host')}")
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


OWN = r"GET /own HTTP/1.1\r\nHost: me\r\n\r\n"


@pytest.mark.parametrize("request_arg", [[], ["--request", OWN]])
def test_the_download_sends_a_request_and_completes(
    http_port: int, request_arg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _Answer.seen.clear()
    argv = ["probe", "127.0.0.1", "--port", str(http_port), "--download", "50000"]
    assert main([*argv, *request_arg, "--unprivileged", "--json", "--max-seconds", "20"]) == 0
    doc = json.loads(capsys.readouterr().out)
    download = doc["mss"]["download"]
    assert download["verdict"] == "complete" and download["bytes"] == 50_000
    if request_arg:
        assert download["request"] == "user" and _Answer.seen == ["GET /own me"]
    else:
        assert download["request"] == "http-get"
        assert _Answer.seen == [f"GET / 127.0.0.1:{http_port}"]
