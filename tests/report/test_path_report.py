"""Tests of report/path.py (the probe/trace/sweep orchestrator) and report/path_text.py.

Probing runs against loopback only (the lab scenarios are in tests/e2e/); the
options, name resolution and rendering need no privilege.
"""

from __future__ import annotations

import io
import os
import sys
from ipaddress import ip_address
from pathlib import Path

import pytest
from rich.console import Console

from mtuscope.active.transport import interface_mtu
from mtuscope.errors import UsageError
from mtuscope.report.path import (
    PathOptions,
    probe_path,
    resolve,
    sweep_path,
    trace_path,
)
from mtuscope.report.path_text import render_path
from mtuscope.report.schema import validate_report

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux")
LO_MTU = min(int(Path("/sys/class/net/lo/mtu").read_text()), 65535) if ROOT else 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"family": 5},
        {"port": 0},
        {"port": 70000},
        {"kind": "sctp"},
        {"kind": "tcp"},
        {"rate": 0},
        {"timeout": -1},
        {"budget": 0},
        {"max_seconds": 0},
        {"raw": True, "unprivileged": True},
        {"download": 100},
        {"download": -1, "port": 80},
    ],
)
def test_bad_options_are_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        PathOptions(host="127.0.0.1", **kwargs)  # type: ignore[arg-type]


def test_numeric_hosts_resolve_to_themselves() -> None:
    assert resolve("192.0.2.1") == ip_address("192.0.2.1")
    assert resolve("2001:db8::1") == ip_address("2001:db8::1")
    assert resolve("[2001:db8::1]", 6) == ip_address("2001:db8::1")


def test_names_resolve_through_getaddrinfo_in_the_family_asked() -> None:
    assert resolve("localhost", 4) == ip_address("127.0.0.1")


def test_a_family_that_does_not_match_the_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not IPv6"):
        resolve("192.0.2.1", 6)


@needs_root
def test_the_interface_mtu_of_loopback_is_read_from_sysfs() -> None:
    assert min(interface_mtu(ip_address("127.0.0.1")), 65535) == LO_MTU


@needs_root
@pytest.mark.raw_socket
def test_probe_over_loopback_finds_the_interface_mtu_and_renders() -> None:
    report = probe_path(PathOptions(host="127.0.0.1", budget=80, max_seconds=20))
    doc = report.to_dict()
    validate_report(doc)
    assert doc["kind"] == "path" and doc["transport"] == "raw" and doc["probe_kind"] == "echo"
    assert doc["pmtu"] == LO_MTU and doc["stop_reason"] == "converged"
    assert doc["mtu_drop"] is None and report.findings == ()
    assert [h["address"] for h in doc["hops"]] == ["127.0.0.1"]
    assert doc["search"]["sent"] <= doc["probes"]["sent"] <= 80
    out = io.StringIO()
    render_path(report, Console(file=out, width=120))
    text = out.getvalue()
    assert "Path to 127.0.0.1" in text and f"Path MTU: {LO_MTU} bytes" in text
    assert "Hops (1)" in text


@needs_root
@pytest.mark.raw_socket
def test_unprivileged_mode_probes_with_udp_and_warns() -> None:
    report = probe_path(PathOptions(host="127.0.0.1", unprivileged=True, max_seconds=20))
    doc = report.to_dict()
    validate_report(doc)
    assert doc["transport"] == "udp" and doc["probe_kind"] == "udp"
    assert doc["pmtu"] == LO_MTU
    assert any("--unprivileged" in w for w in report.warnings)


@needs_root
@pytest.mark.raw_socket
def test_trace_alone_fills_the_path_fields() -> None:
    report = trace_path(PathOptions(host="127.0.0.1", max_seconds=20))
    doc = report.to_dict()
    validate_report(doc)
    assert len(doc["hops"]) == 1 and doc["hops"][0]["mtu"] == LO_MTU
    assert doc["pmtu"] == LO_MTU and doc["stop_reason"] == "converged"


@needs_root
@pytest.mark.raw_socket
def test_sweep_tabulates_every_size_and_renders_the_table() -> None:
    report = sweep_path(PathOptions(host="127.0.0.1"), start=1000, stop=1010, step=5, count=2)
    doc = report.to_dict()
    validate_report(doc)
    assert [r["size"] for r in doc["sweep"]] == [1000, 1005, 1010]
    assert all(r["sent"] == 2 and r["reached"] == 2 for r in doc["sweep"])
    # Every size got through, so the sweep says nothing exact about the path MTU.
    assert doc["pmtu"] is None and doc["probes"]["sent"] == 6
    out = io.StringIO()
    render_path(report, Console(file=out, width=120))
    assert "DF sweep (3 sizes)" in out.getvalue()


@needs_root
@pytest.mark.raw_socket
def test_a_sweep_larger_than_the_budget_is_refused() -> None:
    with pytest.raises(UsageError, match="budget"):
        sweep_path(PathOptions(host="127.0.0.1", budget=5), start=100, stop=110)
