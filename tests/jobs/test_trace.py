"""jobs/trace.py over loopback: the trace alone fills the path fields."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mtuscope.active.probe import SearchStop
from mtuscope.jobs.path import PathOptions
from mtuscope.jobs.trace import trace
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
LO_MTU = min(int(Path("/sys/class/net/lo/mtu").read_text()), 65535) if ROOT else 0

pytestmark = [
    pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux"),
    pytest.mark.raw_socket,
]


def test_trace_alone_fills_the_path_fields() -> None:
    report = trace(PathOptions(host="127.0.0.1", max_seconds=20))
    obs = report.observations
    assert obs.search is None and obs.sweep is None and obs.trace is not None
    assert report.pmtu == LO_MTU and report.stop_reason is SearchStop.CONVERGED
    assert report.search is None and report.probes.sent == len(obs.trace.probes)
    doc = to_dict(report)
    validate_report(doc)
    assert len(doc["hops"]) == 1 and doc["hops"][0]["mtu"] == LO_MTU and "search" not in doc
