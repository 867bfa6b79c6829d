"""End to end, issue 9 points 3, 4, 8 and 15: searches cut short, sweeps that conclude,
Ctrl-C that keeps what was found, and every probe in the report.

Each scenario used is brought up once per module; the CLI runs as its own process in
the client namespace (as a user runs it), and every JSON report is validated against
the schema and checked against the scenario's truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.lablib import SRC, why_not
from mtuscope.lab import Lab
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket


def _argv(argv: list[str]) -> list[str]:
    return ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv]


class Scene:
    """A running lab and the CLI inside its client namespace."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.server = str(lab.address("server", 4))
        self.truth = lab.truth.forward.pmtu(4)

    def cli(self, *argv: str) -> tuple[int, Any, str, str]:
        """Run `mtuscope ARGV` (SERVER stands for the server's address) to completion."""
        args = [self.server if a == "SERVER" else a for a in argv]
        self.lab.flush_pmtu_cache()
        done = self.lab.exec("client", _argv(args), check=False, timeout=90)
        doc = json.loads(done.stdout) if "--json" in args and done.stdout.strip() else None
        if doc is not None:
            validate_report(doc)
        return done.returncode, doc, done.stdout, done.stderr


@pytest.fixture(scope="module")
def scenes() -> Iterator[dict[str, Scene]]:
    why = why_not()
    if why is not None:
        pytest.skip(why)
    labs: dict[str, Lab] = {}
    out: dict[str, Scene] = {}
    try:
        for name in ("blackhole", "l2-mismatch", "mtu-drop"):
            labs[name] = Lab.up(name).__enter__()
            out[name] = Scene(labs[name])
        yield out
    finally:
        for lab in labs.values():
            lab.__exit__(None, None, None)


# -- point 3: a search cut short reports bounds, never "no problem", and is a result ----


def test_budget_6_on_a_black_hole_gives_bounds_not_a_path_mtu(scenes: dict[str, Scene]) -> None:
    s = scenes["blackhole"]
    code, doc, _, err = s.cli("probe", "SERVER", "--budget", "6", "--json")
    assert code in (0, 1), err
    assert doc["stop_reason"] == "budget" and doc["pmtu"] is None, doc
    lo, hi = doc["pmtu_bounds"]["lo"], doc["pmtu_bounds"]["hi"]
    assert lo is not None and lo <= s.truth <= hi
    assert not any(f["kind"] == "pmtud-blackhole" for f in doc["findings"])
    assert any(w.startswith("inconclusive") for w in doc["warnings"])


def test_budget_5_in_l2_mismatch_says_inconclusive_not_no_problem(
    scenes: dict[str, Scene],
) -> None:
    s = scenes["l2-mismatch"]
    code, _, out, err = s.cli("probe", "SERVER", "--budget", "5")
    assert code in (0, 1), err
    assert "No MTU or MSS problem found" not in out
    assert "(search cut short: budget)" in out and "Path MTU: between " in out
    assert "Inconclusive:" in out
    line = next(x for x in out.splitlines() if x.startswith("Path MTU:"))
    lo, hi = (int(w) for w in line.split() if w.isdigit())
    assert lo <= s.truth <= hi


def test_max_seconds_1_is_a_result_with_bounds(scenes: dict[str, Scene]) -> None:
    s = scenes["blackhole"]
    # The whole black-hole run takes about 0.6 s: 0.3 s stops it in the search.
    code, doc, _, err = s.cli("probe", "SERVER", "--max-seconds", "0.3", "--json")
    assert code in (0, 1), err
    assert doc is not None and doc["stop_reason"] == "time" and doc["pmtu"] is None
    assert doc["pmtu_bounds"]["hi"] >= s.truth


def test_a_trace_cut_short_reports_no_exact_path_mtu(scenes: dict[str, Scene]) -> None:
    s = scenes["l2-mismatch"]
    code, doc, _, err = s.cli("trace", "SERVER", "--budget", "5", "--json")
    assert code in (0, 1), err
    assert doc["stop_reason"] == "budget" and doc["pmtu"] is None
    assert any(w.startswith("inconclusive") for w in doc["warnings"])


# -- point 4: the sweep's table concludes, with the same findings as probe --------------


def test_the_readme_sweep_gives_the_path_mtu(scenes: dict[str, Scene]) -> None:
    s = scenes["mtu-drop"]
    argv = ("sweep", "SERVER", "--from", "1380", "--to", "1500", "--step", "4")
    code, _, out, err = s.cli(*argv)
    assert code == 0, err
    assert f"Path MTU: {s.truth} bytes (search ended: converged)" in out
    code, doc, _, _ = s.cli(*argv, "--json")
    assert doc["pmtu"] == s.truth and doc["pmtu_bounds"] == {"lo": s.truth, "hi": s.truth}


def test_an_l2_mismatch_sweep_finds_the_black_hole_probe_finds(
    scenes: dict[str, Scene],
) -> None:
    s = scenes["l2-mismatch"]
    code, probed, _, _ = s.cli("probe", "SERVER", "--json")
    assert any(f["kind"] == "pmtud-blackhole" for f in probed["findings"])
    code, doc, _, err = s.cli(
        "sweep", "SERVER", "--from", "1380", "--to", "1500", "--step", "4", "--json"
    )
    assert code == 1, err
    assert doc["stop_reason"] == "blackhole"
    bounds = doc["pmtu_bounds"]
    assert bounds["lo"] <= s.truth <= bounds["hi"] < bounds["lo"] + 4
    (hole,) = [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]
    assert hole["severity"] == "error"


# -- point 8: Ctrl-C (SIGINT) and SIGTERM keep what was found, then exit 130 ------------


def _probing(pid: int, timeout: float = 30.0) -> bool:
    """Wait until process `pid` holds a socket (its transport: probing has begun)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return False  # it ended
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    return True
            except OSError:
                continue  # closed meanwhile
        time.sleep(0.05)
    return False


def _interrupt(s: Scene, argv: list[str], *, after: float, sig: int) -> tuple[int, str, str]:
    """Start `mtuscope ARGV` in the client, send `sig` `after` seconds into the probing."""
    args = [s.server if a == "SERVER" else a for a in argv]
    s.lab.flush_pmtu_cache()
    # `ip netns exec` and `env` exec the interpreter: the signal reaches mtuscope itself.
    proc = s.lab.popen(
        "client", _argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _probing(proc.pid), "mtuscope never opened its transport"
        time.sleep(after)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_an_interrupted_probe_prints_its_partial_json_and_exits_130(
    scenes: dict[str, Scene], sig: int
) -> None:
    s = scenes["blackhole"]
    # A slow rate keeps the black-hole search busy when the signal comes: its silences
    # take 0.2 s, the timeout following the lab's RTT, but past the burst of round one
    # each probe waits a second for its token.
    argv = ["probe", "SERVER", "--rate", "1", "--json"]
    code, out, err = _interrupt(s, argv, after=1.5, sig=sig)
    assert code == 130, err
    doc = json.loads(out)
    validate_report(doc)
    assert doc["stop_reason"] == "interrupted" and doc["pmtu"] is None
    lo, hi = doc["pmtu_bounds"]["lo"], doc["pmtu_bounds"]["hi"]
    assert lo is not None and lo <= s.truth <= hi
    assert doc["probes"]["sent"] >= 1 and len(doc["probes"]["records"]) >= 1
    assert any("interrupted" in w for w in doc["warnings"])


def test_an_interrupted_probe_prints_its_partial_text(scenes: dict[str, Scene]) -> None:
    s = scenes["blackhole"]
    code, out, err = _interrupt(s, ["probe", "SERVER", "--rate", "1"], after=1.5, sig=signal.SIGINT)
    assert code == 130, err
    assert "(search cut short: interrupted)" in out and "Inconclusive:" in out
    assert "No MTU or MSS problem found" not in out


# -- point 15: -v logs every probe, and the JSON keeps every probe -----------------------


def test_verbose_logs_every_probe_and_json_keeps_the_records(scenes: dict[str, Scene]) -> None:
    s = scenes["mtu-drop"]
    code, doc, _, err = s.cli("probe", "SERVER", "-v", "--json")
    assert code == 0, err
    records = doc["probes"]["records"]
    assert len(records) == doc["probes"]["sent"] and len(records) > 10
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    lines = [x for x in err.splitlines() if x.startswith("mtuscope: probe ")]
    assert len(lines) == len(records)
    # The too-big message that decided the search is there, with its MTU and sender.
    big = [r for r in records if r["reply"] == "too-big" and r["mtu"] == s.truth]
    assert big and all(r["from"] and r["size"] > s.truth for r in big)
    first = next(x for x in lines if f"probe {big[0]['id']}:" in x)
    assert f"size {big[0]['size']} ttl {big[0]['ttl']} echo {s.server}" in first
    assert f"too-big from {big[0]['from']} mtu {s.truth}" in first
    reached = [r for r in records if r["outcome"] == "reached"]
    assert reached and all(r["rtt_ms"] is not None and r["rtt_ms"] >= 0 for r in reached)
