"""`mtuscope responder --json` and `responder-check` through the real command line, on loopback."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mtuscope.cli import responder
from mtuscope.jobs.responder_port import RESPONDER_PORT
from mtuscope.jobs.two_ended import TwoEndedOptions
from mtuscope.report.schema import validate_report

SRC = Path(__file__).resolve().parents[2] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="TCP_SAVED_SYN is Linux only"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _one_check(*check_argv: str) -> tuple[subprocess.CompletedProcess[str], int, str]:
    """Serve one connection with `responder --json`; run `responder-check` against it.

    Returns:
        The finished check, the port, and what the responder printed on stdout.
    """
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "responder", "--bind", "127.0.0.1", "--port",
         str(port), "--max-connections", "1", "--no-reverse", "--json"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        assert "listening on" in server.stderr.readline()
        check = subprocess.run(
            [sys.executable, "-m", "mtuscope", "responder-check", f"127.0.0.1:{port}",
             "--no-reverse", *check_argv],
            env=ENV, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        out, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=5)
    assert server.returncode == 0
    return check, port, out


def test_responder_serves_one_check_and_prints_its_summary() -> None:
    check, port, out = _one_check("--json")
    report = json.loads(check.stdout)
    validate_report(report)
    assert report["two_ended"]["changed"] == {}
    assert json.loads(out) == {"address": "127.0.0.1", "port": port, "connections": 1}


def test_a_closed_responder_port_is_one_line_and_exit_1() -> None:
    port = _free_port()  # bound a moment ago, closed now: the kernel answers with a reset
    done = subprocess.run(
        [sys.executable, "-m", "mtuscope", "responder-check", f"127.0.0.1:{port}", "--no-reverse"],
        env=ENV, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("mtuscope responder-check: nothing listens on 127.0.0.1 port")
    assert "connection refused" in line


def test_both_ends_default_to_one_port() -> None:
    parser = argparse.ArgumentParser()
    responder.add_parser(parser.add_subparsers())
    serve = parser.parse_args(["responder", "--bind", "127.0.0.1"])
    check = parser.parse_args(["responder-check", "127.0.0.1"])
    # The check's target has no port: the job gives it the port the service listens on.
    assert serve.port == RESPONDER_PORT
    assert TwoEndedOptions.of_target(check.target, what="responder-check").port == serve.port


def test_responder_check_prints_its_text_block_once() -> None:
    check, port, _ = _one_check()
    assert check.returncode == 0, check.stderr
    assert check.stdout.count(f"Two-ended check with 127.0.0.1 port {port} (IPv4)") == 1
    assert "SYN MSS:" in check.stdout and "No MTU or MSS problem found." in check.stdout


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["responder", "--bind", "localhost"], "--bind 'localhost': not an IP address"),
        (["responder", "--bind", "127.0.0.1", "--rate", "0"], "must be positive"),
        (["responder-check", "127.0.0.1:99999"], "outside 1..65535"),
        (["responder-check", "127.0.0.1:7000", "--platform", "nope"], "unknown platform"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mtuscope import cli

    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
