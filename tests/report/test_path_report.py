"""report/path_json.py and report/path_text.py over typed "path" reports.

The reports are built from the real engines run against FakePath (no privilege
needed); the jobs that build them on real sockets are tested in tests/jobs/.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.mss import MssObservation
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import ProbeKind, SearchStop
from mtuscope.active.size_engine import ProbeTotals, totals
from mtuscope.active.sweep import DfSweep
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.jobs.path import PathReport, PathTransport
from mtuscope.report.path_json import path_body
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from mtuscope.report.text import render_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)


def _probe_report(path: FakePath, *, port: int | None = None) -> PathReport:
    search = PathMtuSearch(dst=path.dst, ceiling=1500)
    run(search, path)
    pmtu = search.result()
    hop = HopTrace(dst=path.dst, ceiling=1500, pmtu=pmtu, first_id=100)
    run(hop, path, start=200.0)
    trace = hop.result()
    mss = MssObservation(family=path.family, port=port, server_announced=1460, effective=1400)
    obs = PathObservations(dst=path.dst, port=port, search=pmtu, trace=trace, mss=mss)
    return _report(obs, pmtu.path_mtu, pmtu.stop_reason, totals(pmtu, trace), totals(pmtu))


def _report(
    obs: PathObservations,
    pmtu: int | None,
    stop: SearchStop,
    probes: ProbeTotals,
    search: ProbeTotals | None = None,
    *,
    transport: PathTransport = PathTransport.RAW,
    kind: ProbeKind = ProbeKind.ECHO,
) -> PathReport:
    return PathReport(
        inputs=(str(obs.dst),),
        findings=diagnose_path(obs),
        host=str(obs.dst),
        observations=obs,
        transport=transport,
        probe_kind=kind,
        pmtu=pmtu,
        stop_reason=stop,
        probes=probes,
        search=search,
    )


def test_the_probe_body_is_the_contract_in_the_old_key_order() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    report = _probe_report(path, port=443)
    doc = to_dict(report)
    validate_report(doc)
    json.dumps(doc)
    assert list(doc)[6:] == [
        "target", "family", "pmtu", "pmtu_bounds", "pmtu_reverse", "hops", "mtu_drop",
        "mtu_drops", "mss", "probes", "stop_reason", "search", "transport", "probe_kind",
        "unreachable", "port_state",
    ]  # fmt: skip
    assert doc["target"] == {"address": str(path.dst), "port": 443}
    assert doc["pmtu"] == 1400 and doc["stop_reason"] == "converged"
    assert doc["mtu_drop"]["after_hop"] == 1 and doc["mtu_drop"]["to_mtu"] == 1400
    shown = {k: doc["mss"][k] for k in ("server_announced", "effective", "combined")}
    assert shown == {"server_announced": 1460, "effective": 1400, "combined": 1400}
    assert doc["transport"] == "raw" and doc["probe_kind"] == "echo"
    obs = report.observations
    assert obs.search is not None and obs.trace is not None
    assert doc["probes"]["sent"] == len(obs.search.probes) + len(obs.trace.probes)
    assert doc["search"] == {"sent": len(obs.search.probes), "seconds": doc["search"]["seconds"]}


def test_the_body_agrees_with_path_body_on_the_shared_fields() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    report = _probe_report(path)
    obs = report.observations
    assert obs.search is not None
    old = path_body(obs.search, obs.trace, obs.mss, port=None)
    new = to_dict(report)
    for key, value in old.items():
        assert new[key] == value, key


def test_the_sweep_body_has_its_rows_and_no_search() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    engine = DfSweep(dst=path.dst, start=1399, stop=1401)
    run(engine, path)
    rows = engine.result()
    obs = PathObservations(dst=path.dst, sweep=rows)
    report = _report(
        obs,
        rows.exact_path_mtu,
        rows.stop_reason,
        totals(rows),
        transport=PathTransport.UDP,
        kind=ProbeKind.UDP,
    )
    doc = to_dict(report)
    validate_report(doc)
    assert "search" not in doc and [r["size"] for r in doc["sweep"]] == [1399, 1400, 1401]
    assert doc["pmtu"] == 1400 and doc["hops"] == [] and doc["probes"]["sent"] == 3
    assert list(doc).index("sweep") == list(doc).index("stop_reason") + 1
    out = io.StringIO()
    render_text(report, out)
    text = out.getvalue()
    assert "DF sweep (3 sizes)" in text and "Path MTU: 1400 bytes" in text
    assert f"Path to {path.dst} (IPv4, udp probes, udp sockets)" in text


def test_the_text_shows_the_hops_the_drop_the_mss_and_the_findings() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    report = _probe_report(path, port=443)
    out = io.StringIO()
    render_text(report, out)
    text = out.getvalue()
    assert f"Path to {path.dst}:443 (IPv4, echo probes, raw sockets)" in text
    assert "Hops (3)" in text and "Path MTU: 1400 bytes (search ended: blackhole)" in text
    assert "MTU drop: 1500 → 1400 between hop 1" in text and "silently" in text
    assert "MSS: server announced 1460, effective 1400, segments carry 1400" in text
    assert "pmtud-blackhole" in text
    assert report.stop_reason is SearchStop.BLACKHOLE


def test_ipv6_targets_are_shown_in_brackets() -> None:
    path = FakePath(hop_mtus=[1500, 1280, 1500], family=6)
    out = io.StringIO()
    render_text(_probe_report(path, port=443), out)
    assert f"Path to [{path.dst}]:443 (IPv6" in out.getvalue()
