"""report/text.py: how findings read for people."""

from __future__ import annotations

import io

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.report.text import MAX_FINDINGS, make_console, render_findings


def _finding(i: int, *, hop: int | None = None, probe: int | None = None) -> Finding:
    return Finding(
        kind="pmtud-blackhole",
        severity=Severity.ERROR if i == 0 else Severity.INFO,
        summary=f"finding {i}",
        evidence=(Evidence(field="probe.size", observed=1401, hop=hop, probe=probe),),
        advice="allow ICMP",
    )


def _render(*findings: Finding) -> str:
    out = io.StringIO()
    render_findings(findings, make_console(out))
    return out.getvalue()


def test_evidence_names_its_hop_and_probe() -> None:
    text = _render(_finding(0, probe=7), _finding(1, hop=2, probe=9), _finding(2, hop=3))
    assert "probe 7: probe.size = 1401" in text
    assert "hop 2 probe 9: probe.size = 1401" in text
    assert "hop 3: probe.size = 1401" in text


def test_long_finding_lists_are_summarised_most_severe_first() -> None:
    text = _render(*(_finding(i, probe=i) for i in range(MAX_FINDINGS + 10)))
    assert f"Findings ({MAX_FINDINGS + 10})" in text
    assert f"The first {MAX_FINDINGS}" in text
    assert text.index("finding 0") < text.index("finding 1")
    assert f"finding {MAX_FINDINGS + 9}" not in text


def test_capture_and_compare_results_render_through_their_kind() -> None:
    from pathlib import Path

    from mtuscope.jobs.analyze import AnalyzeOptions, analyze
    from mtuscope.jobs.compare import CompareOptions, compare
    from mtuscope.report.text import render_text

    ex = Path(__file__).resolve().parents[2] / "examples"
    out = io.StringIO()
    render_text(analyze(AnalyzeOptions(paths=(str(ex / "blackhole-server.pcap"),))), out)
    text = out.getvalue()
    assert "blackhole-server.pcap" in text and "TCP connections (" in text
    assert "Findings (" in text and "pmtud-blackhole" in text
    out = io.StringIO()
    a, b = (str(ex / f"clamp-{p}.pcap") for p in ("client", "server"))
    render_text(compare(CompareOptions(a=a, b=b)), out)
    text = out.getvalue()
    assert "MSS client->server: 1460 at A, 1300 at B" in text and "What to do:" not in text
    # Both directions are clamped alike: their advice is printed once.
    assert text.count("A middlebox rewrites the MSS") == 1 and "the same as above." in text


def test_a_configuration_snippet_is_printed_once_per_report() -> None:
    from mtuscope.diagnose.rules.mtu_drop import RULE as DROP
    from mtuscope.diagnose.rules.pmtud_blackhole import RULE as HOLE

    ev = (Evidence(field="probe.size", observed=1401, probe=1),)
    facts: dict[str, int | str | None] = {"path_mtu": 1400, "to_mtu": 1400, "from_mtu": 1500}
    hole = HOLE.finding(summary="hole", evidence=ev, facts=facts, platform="linux")
    drop = DROP.finding(summary="drop", evidence=ev, facts=facts, platform="linux")
    snippet = hole.advice.partition("\n")[2]
    assert snippet and snippet == drop.advice.partition("\n")[2]
    text = _render(hole, drop)
    assert text.count(snippet.splitlines()[0]) == 1, text
    assert "(configuration lines as above)" in text
    # Both paragraphs are still there: only the repeated lines are left out.
    assert "vanish" in text and "The MTU drops" in text
