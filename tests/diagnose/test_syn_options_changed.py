"""Rule `syn-options-changed-on-retransmission`, on captures built here, through analyze."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtuscope.diagnose.findings import Severity
from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from passive.pcaps import ACK, CLIENT4, SERVER4, SYN, SYN_ACK, eth, tcp_ip, write_pcap

KIND = "syn-options-changed-on-retransmission"


def _frames(
    second_syn: dict[str, object], synack_again: dict[str, object] | None = None
) -> list[bytes]:
    c, s = CLIENT4, SERVER4
    pk = [
        tcp_ip(c, s, 40000, 443, seq=100, flags=SYN, mss=1460, wscale=7, sack_permitted=True),
        tcp_ip(c, s, 40000, 443, seq=100, flags=SYN, **second_syn),
        tcp_ip(s, c, 443, 40000, seq=900, ack=101, flags=SYN_ACK, mss=1400),
    ]
    if synack_again is not None:
        pk.append(tcp_ip(s, c, 443, 40000, seq=900, ack=101, flags=SYN_ACK, **synack_again))
    pk.append(tcp_ip(c, s, 40000, 443, seq=101, ack=901, flags=ACK))
    return [eth(0x0800, p) for p in pk]


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 64], ids=["one-chunk", "chunk-per-frame"])
def test_a_syn_retransmitted_with_another_mss(tmp_path: Path, chunk_bytes: int) -> None:
    path = write_pcap(
        tmp_path / "t.pcap", _frames({"mss": 1380, "wscale": 7, "sack_permitted": True})
    )
    result = analyze(AnalyzeOptions(paths=(path,), chunk_bytes=chunk_bytes))
    [f] = [f for f in result.findings if f.kind == KIND]
    assert f.severity == Severity.WARNING and f.connection == 1
    assert "MSS 1460 -> 1380" in f.summary and "frame 2" in f.summary
    assert [(e.frame, e.field, e.observed, e.expected) for e in f.evidence] == [
        (1, "tcp.options.mss_val", 1460, None),
        (2, "tcp.options.mss_val", 1380, 1460),
    ]
    # the connection keeps the first handshake's values
    [conn] = result.analyses[0].connections
    assert (conn.client.mss, conn.client.handshake_frame, conn.client.wscale) == (1460, 1, 7)
    validate_report(to_dict(result))


def test_options_dropped_on_a_syn_ack_retransmission_are_info(tmp_path: Path) -> None:
    frames = _frames({"mss": 1460, "wscale": 7, "sack_permitted": True}, {"mss": 1400, "wscale": 2})
    result = analyze(AnalyzeOptions(paths=(write_pcap(tmp_path / "t.pcap", frames),)))
    [f] = [f for f in result.findings if f.kind == KIND]
    assert f.severity == Severity.INFO
    assert (
        "server" in f.summary and "SYN/ACK" in f.summary and "window scale absent -> 2" in f.summary
    )
    assert {e.frame for e in f.evidence} == {3, 4}


def test_silent_on_identical_retransmissions_and_new_isns(tmp_path: Path) -> None:
    same = _frames({"mss": 1460, "wscale": 7, "sack_permitted": True})
    other_isn = [eth(0x0800, tcp_ip(CLIENT4, SERVER4, 40000, 443, seq=5000, flags=SYN, mss=1380))]
    frames = same[:2] + other_isn + same[2:]
    result = analyze(AnalyzeOptions(paths=(write_pcap(tmp_path / "t.pcap", frames),)))
    assert [f for f in result.findings if f.kind == KIND] == []
