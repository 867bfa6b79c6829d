"""jobs/sweep.py over loopback: one row per size, the budget checked up front."""

from __future__ import annotations

import os
import sys

import pytest

from mtuscope.errors import UsageError
from mtuscope.jobs.sweep import SweepOptions, sweep
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0

pytestmark = [
    pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux"),
    pytest.mark.raw_socket,
]


def test_sweep_tabulates_every_size() -> None:
    report = sweep(SweepOptions(host="127.0.0.1", start=1000, stop=1010, step=5, count=2))
    rows = report.observations.sweep
    assert rows is not None
    assert [r.size for r in rows.rows] == [1000, 1005, 1010]
    assert all(r.sent == 2 and r.reached == 2 for r in rows.rows)
    # Every size got through, so the sweep says nothing exact about the path MTU.
    assert report.pmtu is None and report.probes.sent == 6 and report.findings == ()
    doc = to_dict(report)
    validate_report(doc)
    assert [r["size"] for r in doc["sweep"]] == [1000, 1005, 1010]


def test_a_sweep_larger_than_the_budget_is_refused() -> None:
    with pytest.raises(UsageError, match="budget"):
        sweep(SweepOptions(host="127.0.0.1", budget=5, start=100, stop=110))
