"""`mtuscope analyze` end to end on the bundled lab captures and on bad input.

Each example capture has a golden `examples/<name>.findings.json`: the kinds,
severities, evidence frames and facts (MTU bounds, MSS values, sizes) mtuscope must
report, and each connection's MSS and largest segment. Regenerate them after a
deliberate change with `MTUSCOPE_UPDATE_GOLDENS=1 pytest tests/cli/test_analyze_cli.py`
(that run fails on purpose), review the diff, and run again without the variable.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.pcap"))
UPDATE = os.environ.get("MTUSCOPE_UPDATE_GOLDENS") == "1"

# What each example must show, whatever else the goldens pin down.
MUST = {
    "pmtud-ok-server": {"icmp-too-big"},
    "pmtud-ok-v6-server": {"icmp-too-big"},
    "blackhole-server": {"pmtud-blackhole"},
    "blackhole-client": {"pmtud-blackhole"},
    "clamp-client": {"undersized-mss"},
    "clamp-server": {"undersized-mss"},
}
MUST_NOT = {
    "pmtud-ok-server": {"pmtud-blackhole"},
    "pmtud-ok-v6-server": {"pmtud-blackhole"},
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _summary(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What a golden pins per finding: kind, severity, evidence frames and the facts (MTU
    bounds, MSS values, sizes), plus each connection's MSS and largest segments."""
    findings = sorted(
        (
            {
                "kind": f["kind"],
                "severity": f["severity"],
                "frames": sorted({e["frame"] for e in f["evidence"] if e.get("frame")}),
                # The numbers (wording such as a convention's text may change freely).
                "facts": {k: v for k, v in sorted(f["facts"].items()) if isinstance(v, int)},
            }
            for f in doc["findings"]
        ),
        key=lambda f: (f["kind"], f["frames"]),
    )
    connections = [
        {
            "id": c["id"],
            **{
                f"{role}_{k}": c[role][k]
                for role in ("client", "server")
                for k in ("mss", "effective_mss", "max_segment", "max_segment_frame")
            },
        }
        for c in doc["connections"]
    ]
    return [*findings, {"connections": connections}]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_report_matches_golden(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = _run(capsys, "analyze", str(path), "--json")
    doc = json.loads(out)
    validate_report(doc)
    kinds = {f["kind"] for f in doc["findings"]}
    assert MUST.get(path.stem, set()) <= kinds
    assert not MUST_NOT.get(path.stem, set()) & kinds
    assert code == (1 if any(f["severity"] == "error" for f in doc["findings"]) else 0)
    golden = path.with_suffix(".findings.json")
    if UPDATE:
        # Writing a golden proves nothing: the run that writes one fails, and the next
        # run (without the variable) checks the reviewed file.
        golden.write_text(json.dumps(_summary(doc), indent=1) + "\n")
        pytest.fail(f"{golden.name} rewritten: review the diff, then rerun without UPDATE")
    assert _summary(doc) == json.loads(golden.read_text())


def test_blackhole_is_an_error_with_its_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "analyze", str(ROOT / "examples/blackhole-server.pcap"), "--json")
    doc = json.loads(out)
    (hole,) = [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]
    assert code == 1 and hole["severity"] == "error"
    # examples/README.md: the same 1448-byte segment retransmitted in frames 15-19
    assert {15, 16, 17, 18, 19} <= {e["frame"] for e in hole["evidence"]}
    assert "ICMP" in hole["advice"]


def test_text_report_names_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "analyze", str(ROOT / "examples/pmtud-ok-server.pcap"))
    assert "icmp-too-big" in out and "1400" in out and "203.0.113.1" in out


def test_filter_keeps_only_the_named_host(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples/pmtud-ok-server.pcap")
    _, out, _ = _run(capsys, "analyze", path, "--json", "--filter", "203.0.113.2:8080")
    assert len(json.loads(out)["connections"]) == 1
    _, out, _ = _run(capsys, "analyze", path, "--json", "--filter", "198.51.100.77")
    doc = json.loads(out)
    assert doc["connections"] == [] and doc["icmp_too_big"] == []


def test_gzip_and_stdin(tmp_path: Path) -> None:
    raw = (ROOT / "examples/blackhole-server.pcap").read_bytes()
    gz = tmp_path / "cap.pcap.gz"
    gz.write_bytes(gzip.compress(raw))
    for argv, data in (([str(gz)], None), (["-"], raw), (["-"], gzip.compress(raw))):
        proc = subprocess.run(
            [sys.executable, "-m", "mtuscope", "analyze", "--json", *argv],
            input=data,
            capture_output=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        assert proc.returncode == 1, proc.stderr
        assert "pmtud-blackhole" in {f["kind"] for f in json.loads(proc.stdout)["findings"]}


BAD = {
    "empty": b"",
    "wrong-magic": b"NOTAPCAP" * 8,
    "corrupt-length": bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
    + bytes.fromhex("00000000000000000000f0ff0000f0ff"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(BAD[name])
    code, out, err = _run(capsys, "analyze", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err


def test_damaged_tail_keeps_results_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (ROOT / "examples/blackhole-server.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(raw[:-30])  # the last record is cut short
    code, out, err = _run(capsys, "analyze", str(path), "--json")
    doc = json.loads(out)
    assert doc["captures"][0]["packets"] == 20 and doc["warnings"]
    assert "warning" in err and str(path) in err


def test_missing_file_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "analyze", "/nonexistent/x.pcap")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "analyze", str(EXAMPLES[0]), "--filter", "not-an-ip")
    assert code == 2 and "--filter" in err
    code, _, err = _run(capsys, "nosuchverb")
    assert code == 2
