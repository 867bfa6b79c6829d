"""The download of `probe --download` in the path report: text line, JSON object, schema."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from mtuscope.active.mss import Direction, MssObservation, RequestKind, TransferObservation
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import ProbeKind
from mtuscope.active.size_engine import totals
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.jobs.path import PathReport, PathTransport
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from mtuscope.report.text import render_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)


def _report(transfer: TransferObservation | None) -> PathReport:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    search = PathMtuSearch(dst=path.dst, ceiling=1500)
    run(search, path)
    pmtu = search.result()
    mss = MssObservation(
        family=4, port=8080, server_announced=1460, effective=1348, probe_id=1, transfer=transfer
    )
    obs = PathObservations(dst=path.dst, port=8080, search=pmtu, mss=mss)
    return PathReport(
        inputs=(str(path.dst),),
        findings=diagnose_path(obs),
        host=str(path.dst),
        observations=obs,
        transport=PathTransport.RAW,
        probe_kind=ProbeKind.TCP_SYN,
        pmtu=pmtu.path_mtu,
        stop_reason=pmtu.stop_reason,
        probes=totals(pmtu),
        search=totals(pmtu),
    )


def _transfer(moved: int, *, stalled: bool = False, done: bool = False) -> TransferObservation:
    return TransferObservation(
        direction=Direction.DOWNLOAD,
        handshake_ok=True,
        expected_bytes=100_000,
        moved_bytes=moved,
        stalled=stalled,
        largest_segment=min(moved, 1348),
        request=RequestKind.HTTP_GET,
        server_done=done,
    )


def _text(report: PathReport) -> str:
    out = io.StringIO()
    render_text(report, out)
    return out.getvalue()


def test_a_completed_download_says_so_with_its_largest_segment() -> None:
    report = _report(_transfer(100_000))
    doc = to_dict(report)
    validate_report(doc)
    assert doc["mss"]["download"] == {
        "request": "http-get",
        "expected_bytes": 100_000,
        "bytes": 100_000,
        "largest_segment": 1348,
        "largest_segment_from": "tcp_info.rcv_mss",
        "server_done": False,
        "verdict": "complete",
    }
    text = _text(report)
    assert "download completed: 100000 bytes, largest segment 1348 (TCP_INFO rcv_mss" in text
    assert not [f for f in report.findings if f.kind == "pmtud-blackhole"]


def test_a_small_answer_completes_but_says_it_tested_no_full_size_segment() -> None:
    text = _text(_report(_transfer(445, done=True)))
    assert "download completed: 445 bytes" in text and "were not tested" in text


def test_a_stalled_download_is_an_error_and_says_where_it_stopped() -> None:
    report = _report(_transfer(150, stalled=True))
    doc = to_dict(report)
    validate_report(doc)
    assert doc["mss"]["download"]["verdict"] == "stalled"
    (stall,) = [f for f in doc["findings"] if "download" in f["summary"]]
    assert stall["severity"] == "error"
    assert "download stalled after 150 of 100000 bytes (after an HTTP GET)" in _text(report)


def test_without_a_download_the_mss_object_is_unchanged() -> None:
    doc = to_dict(_report(None))
    assert "download" not in doc["mss"]
    assert "download" not in _text(_report(None))
