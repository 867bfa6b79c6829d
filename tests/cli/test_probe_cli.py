"""CLI tests of `probe`, `trace` and `sweep`: exit codes, one-line errors, --json (loopback)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux")


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtuscope ") and ": mtuscope" not in lines[0]
    return lines[0]


def test_every_path_verb_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(verb in out for verb in ("probe", "trace", "sweep"))


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "127.0.0.1", "--raw", "--unprivileged"],
        ["probe", "127.0.0.1", "--kind", "tcp"],
        ["probe", "127.0.0.1", "--port", "0"],
        ["probe", "127.0.0.1", "--download", "1000"],
        ["probe", "127.0.0.1", "-6"],
        ["probe", "127.0.0.1", "--platform", "no-such-router"],
        ["sweep", "127.0.0.1", "--from", "1400"],
        ["sweep", "127.0.0.1", "--from", "1500", "--to", "1400"],
        ["sweep", "127.0.0.1", "--from", "100", "--to", "600", "--budget", "10"],
        ["trace", "127.0.0.1", "--rate", "0"],
    ],
)
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    _one_line_error(capsys)


@needs_root
@pytest.mark.raw_socket
def test_probe_json_is_one_valid_document_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "127.0.0.1", "--json", "--max-seconds", "20"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate_report(doc)
    assert doc["kind"] == "path" and doc["target"] == {"address": "127.0.0.1", "port": None}


@needs_root
@pytest.mark.raw_socket
@pytest.mark.parametrize("verb", [["trace"], ["sweep", "--from", "1000", "--to", "1002"]])
def test_trace_and_sweep_print_path_reports(
    verb: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([verb[0], "127.0.0.1", *verb[1:], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate_report(doc)
    assert doc["kind"] == "path" and doc["family"] == 4
    assert ("sweep" in doc) is (verb[0] == "sweep")


@needs_root
@pytest.mark.raw_socket
def test_unprivileged_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "127.0.0.1", "--unprivileged", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["transport"] == "udp"
    assert "mtuscope probe: warning: echo probes need raw sockets" in err
