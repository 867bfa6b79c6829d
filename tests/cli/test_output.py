"""How the CLI's text reaches people and pipes (issue 9 pt 14, and `trace --help`)."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux")


def _long_capture(tmp_path: Path) -> Path:
    # A path far wider than any terminal: its header line must stay one line.
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    return Path(shutil.copy(EXAMPLES / "pmtud-ok-server.pcap", deep / "pmtud-ok-server.pcap"))


def test_piped_text_is_not_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    cap = _long_capture(tmp_path)
    assert main(["analyze", str(cap), "--platform", "linux"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = f"{cap}: 102 frames, pcap, link types ether"
    assert lines[0] == head
    # Every evidence line names the file in one piece, so grep finds each one.
    evidence = [line for line in lines if f"{cap} frame " in line]
    assert len(evidence) >= 4
    assert max(len(line) for line in lines) > 200
    assert not any(line.strip() and str(cap).startswith(line.strip()) for line in lines[1:])


def test_columns_is_respected_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    assert main(["analyze", str(EXAMPLES / "pmtud-ok-server.pcap")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) <= 70
    assert any(len(line) > 60 for line in lines)


@pytest.mark.parametrize(
    ("address", "matched"),
    [
        ("192.0.2.99", "0 packets matched the filter (192.0.2.99)"),
        ("203.0.113.1", "10 packets matched the filter (203.0.113.1)"),
        ("192.0.2.1:46974", "102 packets matched the filter (192.0.2.1 port 46974)"),
    ],
)
def test_filter_says_how_many_packets_matched(
    address: str, matched: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(EXAMPLES / "pmtud-ok-server.pcap"), "--filter", address]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(f"link types ether; {matched}"), first


def test_zero_matches_are_said_in_so_many_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(EXAMPLES / "pmtud-ok-server.pcap"), "--filter", "192.0.2.99"]) == 0
    assert "0 packets matched the filter (192.0.2.99)" in capsys.readouterr().out


def test_progress_bar_goes_to_stderr_not_into_the_json() -> None:
    # stderr a real terminal (a pty), stdout a pipe: the bar shows on the terminal
    # and the JSON document on stdout starts with its first byte.
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "analyze", "--json"]
        + [str(EXAMPLES / "pmtud-ok-server.pcap")],
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    shown = b""
    while select.select([controller], [], [], 0.5)[0]:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert out.startswith(b'{"tool": "mtuscope"'), out[:40]
    validate_report(json.loads(out))
    assert b"pmtud-ok-server.pcap" in shown  # the bar's label, on the terminal


def test_trace_help_promises_no_mss(capsys: pytest.CaptureFixture[str]) -> None:
    for verb, promised in (("trace", False), ("sweep", False), ("probe", True)):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert ("--port PORT TCP port: MSS measurement" in text) is promised, verb
        if not promised:
            assert f"{verb} measures no MSS" in text


@needs_root
@pytest.mark.raw_socket
def test_path_header_names_the_host_as_typed_and_resolved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["probe", "localhost", "-4", "--port", "9", "--budget", "40", "--max-seconds", "10"]
    main(argv)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("Path to localhost (127.0.0.1) port 9 (IPv4, "), first
    main(["probe", "127.0.0.1", "--port", "9", "--budget", "40", "--max-seconds", "10"])
    assert capsys.readouterr().out.startswith("Path to 127.0.0.1:9 (IPv4, ")


@needs_root
@pytest.mark.raw_socket
def test_middlebox_header_names_the_host_as_typed_and_resolved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["middlebox", "localhost", "-4", "--port", "9", "--max-ttl", "2", "--no-proxy-check"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "TCP SYN to localhost (127.0.0.1) port 9", first
