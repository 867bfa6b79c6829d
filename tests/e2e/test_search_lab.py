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
from pathlib import Path
from typing import Any

import pytest

from mtuscope.lab import Lab
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "lab tests need Linux network namespaces"
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, raw sockets)"
    return None


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
    why = _why_not()
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
    code, doc, _, err = s.cli("probe", "SERVER", "--max-seconds", "1", "--json")
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
