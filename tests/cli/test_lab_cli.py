"""`mtuscope lab` through the CLI entry point: exit codes, output, and a real round trip.

The round trip builds a real lab (root only), under a run id of this test's own
making, and records it in a temporary state directory, so it never sees or
removes labs that others have up.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from mtuscope.cli import main
from mtuscope.lab import SCENARIOS, down_all, lab_namespaces
from mtuscope.lab.schema import validate_lab_document
from mtuscope.report.schema import validate_report

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not ROOT or not shutil.which("ip") or not shutil.which("nft"),
    reason="needs Linux, root (CAP_NET_ADMIN), ip and nft",
)


@pytest.fixture(autouse=True)
def _lab_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTUSCOPE_LAB_DIR", str(tmp_path / "labs"))


def test_unknown_scenario_is_exit_2_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "up", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown lab scenario 'nosuch'" in err
    for name in SCENARIOS:
        assert name in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab"]) == 2
    assert main(["lab", "run", "somelab"]) == 2
    assert main(["lab", "run", "somelab", "--", "true"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1] == "mtuscope lab run: no command given (mtuscope lab run LAB -- CMD ...)"
    assert err[2] == "mtuscope lab run: no lab 'somelab' is up (up: none)"
    assert main(["lab", "down", "x", "--all"]) == 2


def test_list_without_labs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    assert "labs up: none" in out
    for scenario in SCENARIOS.values():
        assert f"{scenario.name}  " in out and scenario.description in out
    assert main(["lab", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate_lab_document(doc)
    assert (doc["kind"], doc["verb"]) == ("lab", "list")
    assert doc["labs"] == []
    by_name = {s["name"]: s for s in doc["scenarios"]}
    assert set(by_name) == set(SCENARIOS)
    two = by_name["two-drops"]["forward"]
    assert two["path_mtu"] == {"4": 1400, "6": 1400}
    assert (two["too_big_from"], two["too_big_hop"]) == ("r2", 2)
    assert two["too_big_source"] == {"4": "198.51.100.2", "6": "2001:db8:0:2::2"}
    assert two["earlier_drops"] == [{"link": "r1-r2", "too_big_from": "r1", "mtu": 1480}]
    assert by_name["bad-ptb"]["forward"]["too_big_mtu"] == 0
    assert by_name["blackhole-filtered-dst"]["server_answers"] == ["tcp-syn"]
    assert by_name["small-mss-server"]["server_mss"] == {"4": 512, "6": 512}


def test_without_root_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", "up", "clean"]) == 3
    assert main(["lab", "down", "--all"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mtuscope lab up: the lab needs root (CAP_NET_ADMIN) to create network namespaces",
        "mtuscope lab down: the lab needs root (CAP_NET_ADMIN) to create network namespaces",
    ]


@needs_root
def test_up_list_run_down_round_trip(capfd: pytest.CaptureFixture[str]) -> None:
    run_id = "c" + secrets.token_hex(3)
    try:
        assert main(["lab", "up", "mtu-drop", "--id", run_id]) == 0
        out = capfd.readouterr().out
        assert f"lab {run_id} (mtu-drop) is up" in out
        assert "client -> server: path MTU 1400, drops at r1-r2, too-big from r1 (hop 1)" in out
        # It outlives the call that built it (no atexit teardown) ...
        assert len(lab_namespaces(f"mtus-{run_id}-")) == 4
        # ... a second one under the same id is refused ...
        assert main(["lab", "up", "clean", "--id", run_id]) == 3
        assert "exists already" in capfd.readouterr().err
        # ... and later invocations find it.
        assert main(["lab", "list", "--json"]) == 0
        listing = json.loads(capfd.readouterr().out)
        validate_lab_document(listing)
        (listed,) = listing["labs"]
        assert (listed["run_id"], listed["scenario"], listed["running"]) == (
            run_id,
            "mtu-drop",
            True,
        )
        ping = ["ping", "-c1", "-W1", "-M", "do", "-s", "1372", "203.0.113.2"]
        assert main(["lab", "run", run_id, "--", *ping]) == 0
        assert "1 received" in capfd.readouterr().out
        # The node's own exit status comes back; --node picks the namespace.
        assert main(["lab", "run", "mtu-drop", "--node", "server", "--", "ip", "-4", "addr"]) == 0
        assert "203.0.113.2/24" in capfd.readouterr().out
        assert main(["lab", "run", run_id, "--node", "r1", "--", "sh", "-c", "exit 7"]) == 7
        assert main(["lab", "run", run_id, "--node", "nosuch", "--", "true"]) == 2
        assert main(["lab", "down", "mtu-drop"]) == 0
        assert f"lab {run_id} (mtu-drop) is down" in capfd.readouterr().out
        assert lab_namespaces(f"mtus-{run_id}-") == ()
        assert main(["lab", "run", run_id, "--", "true"]) == 2
        assert main(["lab", "list"]) == 0
        assert "labs up: none" in capfd.readouterr().out
    finally:
        down_all(f"mtus-{run_id}-")


@needs_root
def test_up_json_and_down_all(capfd: pytest.CaptureFixture[str]) -> None:
    ids = ["d" + secrets.token_hex(3), "e" + secrets.token_hex(3)]
    try:
        assert main(["lab", "up", "l2-mismatch", "--id", ids[0], "--json"]) == 0
        doc = json.loads(capfd.readouterr().out)
        validate_lab_document(doc)
        assert (doc["kind"], doc["verb"]) == ("lab", "up")
        assert doc["run_id"] == ids[0]
        assert doc["namespaces"]["r2"] == f"mtus-{ids[0]}-r2"
        assert doc["forward"]["path_mtu"] == {"4": 1404, "6": 1404}
        assert doc["forward"]["too_big_from"] is None
        assert doc["reverse"]["too_big_source"] == {"4": "203.0.113.1", "6": "2001:db8:0:3::1"}
        assert main(["lab", "up", "clean", "--id", ids[1]]) == 0
        assert main(["lab", "down"]) == 2  # two up: which one?
        capfd.readouterr()
        assert main(["lab", "down", ids[1], "--json"]) == 0
        doc = json.loads(capfd.readouterr().out)
        validate_lab_document(doc)
        assert (doc["kind"], doc["verb"]) == ("lab", "down")
        assert doc["removed"] == [{"id": ids[1], "scenario": "clean"}]
        assert main(["lab", "down", "--all"]) == 0
        out = capfd.readouterr().out
        assert f"lab {ids[0]} (l2-mismatch) is down" in out
        for run_id in ids:
            assert lab_namespaces(f"mtus-{run_id}-") == ()
    finally:
        for run_id in ids:
            down_all(f"mtus-{run_id}-")


def test_lab_documents_are_no_reports(capsys: pytest.CaptureFixture[str]) -> None:
    # A lab document is kind "lab" with its own schema; the report schema rejects it,
    # and the lab schema rejects a document without its envelope.
    assert main(["lab", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with pytest.raises(jsonschema.ValidationError):
        validate_report(doc)
    bare = {k: v for k, v in doc.items() if k not in ("tool", "version", "kind", "verb")}
    with pytest.raises(jsonschema.ValidationError):
        validate_lab_document(bare)


@needs_root
def test_run_finds_this_installation_of_mtuscope(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's example, under sudo's PATH (no virtual environment on it).
    monkeypatch.setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    run_id = "f" + secrets.token_hex(3)
    try:
        assert main(["lab", "up", "mtu-drop", "--id", run_id]) == 0
        capfd.readouterr()
        probe = ["mtuscope", "probe", "203.0.113.2", "--json", "--max-seconds", "20"]
        assert main(["lab", "run", run_id, "--node", "client", "--", *probe]) == 0
        doc = json.loads(capfd.readouterr().out)
        validate_report(doc)
        assert (doc["kind"], doc["pmtu"]) == ("path", 1400)
        # A shell inside the node finds it on PATH too.
        shell = ["sh", "-c", "mtuscope --version"]
        assert main(["lab", "run", run_id, "--node", "server", "--", *shell]) == 0
        assert capfd.readouterr().out.startswith("mtuscope ")
    finally:
        down_all(f"mtus-{run_id}-")
