"""report/capture_text.py: the capture report for people, from the typed result."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from mtuscope.report import capture_text
from mtuscope.report.text import make_console

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _text(paths: tuple[str, ...]) -> str:
    out = io.StringIO()
    capture_text.render(analyze(AnalyzeOptions(paths=paths)), make_console(out))
    return out.getvalue()


def test_rows_are_cut_over_several_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = tuple(str(EXAMPLES / n) for n in ("clamp-client.pcap", "blackhole-server.pcap"))
    whole = _text(paths)
    assert "TCP connections (2)" in whole and "ICMP too-big" not in whole
    assert all(f"{p}: " in whole for p in paths) and "more connections" not in whole
    monkeypatch.setattr(capture_text, "MAX_ROWS", 1)
    cut = _text(paths)
    assert "TCP connections (2)" in cut and "… 1 more connections (see --json)" in cut
    assert "192.0.2.1:42350" in cut and cut.count("│  2 │") == 0


def test_icmp_table_names_the_connection() -> None:
    text = _text((str(EXAMPLES / "pmtud-ok-server.pcap"),))
    assert "ICMP too-big messages (" in text and "1400" in text
