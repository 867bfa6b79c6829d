"""Every capture rule: fires on the situation it names, stays silent otherwise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mtuscope.diagnose.findings import KINDS, Finding, Severity
from mtuscope.diagnose.rules import (
    CAPTURE_CHECKS,
    icmp_too_big,
    ip_fragmentation,
    kind_of,
    mss_floor_ignored,
    offload_artifact,
    oversized_mss,
    pmtud_blackhole,
    pmtud_failure,
    segment_exceeds_mss,
    undersized_mss,
)
from mtuscope.passive import CaptureAnalysis, analyse, finish
from passive import scenarios as sc
from passive.tables import packet_table, too_big


def run(packets: sc.Packets) -> CaptureAnalysis:
    return finish(analyse(packet_table(packets), capture="case.pcap"))


def findings(rule: Callable[..., object], packets: sc.Packets) -> list[Finding]:
    out: list[Finding] = list(rule(run(packets)))  # type: ignore[call-overload]
    for f in out:
        assert f.evidence and all(e.capture == "case.pcap" and e.frame for e in f.evidence)
        assert f.advice and f.facts
    return out


# (module, scenario where it fires, expected severity, scenario where it stays silent)
CASES = [
    (pmtud_blackhole, sc.blackhole, Severity.ERROR, sc.icmp_honoured),
    (
        pmtud_blackhole,
        sc.receiver_blackhole,
        Severity.WARNING,
        lambda: sc.receiver_blackhole(repaired=True),
    ),
    (
        pmtud_blackhole,
        sc.receiver_blackhole,
        Severity.WARNING,
        lambda: sc.receiver_blackhole(gap_acked=True),
    ),
    (
        pmtud_blackhole,
        sc.receiver_blackhole,
        Severity.WARNING,
        lambda: sc.receiver_blackhole(icmp=True),
    ),
    (pmtud_failure, sc.icmp_ignored, Severity.ERROR, sc.icmp_honoured),
    (pmtud_failure, sc.useless_icmp, Severity.WARNING, sc.blackhole),
    (oversized_mss, sc.icmp_ignored, Severity.WARNING, sc.healthy),
    (segment_exceeds_mss, lambda: sc.exceeds_mss(acked=False), Severity.ERROR, sc.tso_on_sender),
    (segment_exceeds_mss, sc.exceeds_mss, Severity.WARNING, sc.mss_floor),
    (mss_floor_ignored, sc.mss_floor, Severity.WARNING, sc.exceeds_mss),
    (icmp_too_big, sc.icmp_honoured, Severity.INFO, sc.blackhole),
    (icmp_too_big, sc.useless_icmp, Severity.WARNING, sc.healthy),
    (undersized_mss, sc.undersized, Severity.WARNING, sc.healthy),
    (
        undersized_mss,
        lambda: sc.undersized(mss=1300),
        Severity.INFO,
        lambda: sc.undersized(mss=1380),
    ),
    (ip_fragmentation, sc.fragments, Severity.INFO, sc.healthy),
    (ip_fragmentation, lambda: sc.fragments(proto=6), Severity.WARNING, sc.healthy),
    (offload_artifact, sc.tso_on_sender, Severity.INFO, sc.exceeds_mss),
    (offload_artifact, sc.gro_on_receiver, Severity.INFO, sc.healthy),
    (offload_artifact, sc.tso_zero_length, Severity.INFO, sc.healthy),
]


@pytest.mark.parametrize(("rule", "fires", "severity", "silent"), CASES)
def test_rule_fires_and_stays_silent(
    rule: object,
    fires: Callable[[], sc.Packets],
    severity: Severity,
    silent: Callable[[], sc.Packets],
) -> None:
    check = rule.check_capture  # type: ignore[attr-defined]
    got = findings(check, fires())
    assert got, f"{rule.KIND} did not fire"  # type: ignore[attr-defined]
    assert {f.kind for f in got} == {rule.KIND}  # type: ignore[attr-defined]
    assert got[0].severity is severity
    assert findings(check, silent()) == []


def test_registry_covers_each_capture_kind_once() -> None:
    kinds = [kind_of(c) for c in CAPTURE_CHECKS]
    assert len(kinds) == len(set(kinds)) == 11
    assert set(kinds) <= set(KINDS)


def test_blackhole_finding_names_the_mtu_bounds_and_frames() -> None:
    (f,) = findings(pmtud_blackhole.check_capture, sc.blackhole())
    assert f.facts["mtu_low"] == 1440 and f.facts["mtu_high"] == 1499
    assert f.connection == 1
    frames = [e.frame for e in f.evidence]
    assert frames[:3] == [11, 12, 13] and 14 in frames
    assert all(e.field == "tcp.len" for e in f.evidence)


def test_receiver_side_black_hole_cites_the_jump_and_the_stuck_ack() -> None:
    (f,) = findings(pmtud_blackhole.check_capture, sc.receiver_blackhole())
    assert f.severity is Severity.WARNING and f.connection == 1
    assert "likely black hole" in f.summary and f"{11 * 1448} bytes" in f.summary
    assert f.facts["seen_from"] == "receiver" and f.facts["side"] == "server"
    assert f.facts["mtu_high"] == 1499 and f.facts["path_mtu"] is None  # bound below 576
    gap = (sc.ISN_S + 1) % (1 << 32)
    by_frame = {e.frame or 0: e for e in f.evidence}
    assert sorted(by_frame) == [2, 4, 5]
    assert (by_frame[5].field, by_frame[5].expected) == ("tcp.seq", gap)
    assert by_frame[5].observed == (sc.ISN_S + 1 + 11 * 1448) % (1 << 32)
    assert (by_frame[4].field, by_frame[4].observed) == ("tcp.ack", gap)


def test_blackhole_is_not_claimed_when_too_big_was_seen() -> None:
    pk = sc.blackhole()
    pk.append(too_big(sc.R4, sc.S4, mtu=1400, quoted=(sc.S4, sc.SPORT, sc.C4, sc.CPORT)))
    assert findings(pmtud_blackhole.check_capture, pk) == []


def test_icmp_finding_groups_messages_and_reports_the_ttl_guess() -> None:
    (f,) = findings(icmp_too_big.check_capture, sc.icmp_ignored())
    assert f.facts["messages"] == 2 and f.facts["initial_ttl"] == 255
    assert f.evidence[0].field == "icmp.mtu" and f.evidence[0].observed == 1400
    assert f.evidence[-1].field == "ip.ttl" and f.evidence[-1].observed == 253
    (v6,) = findings(icmp_too_big.check_capture, sc.icmp_honoured())
    assert v6.evidence[0].field == "icmpv6.mtu" and v6.evidence[-1].field == "ipv6.hlim"


def test_oversized_mss_cites_the_mss_option_and_the_icmp() -> None:
    (f,) = findings(oversized_mss.check_capture, sc.icmp_ignored())
    fields = [(e.field, e.frame, e.observed) for e in f.evidence]
    assert ("tcp.options.mss_val", 1, 1460) in fields
    assert ("icmp.mtu", 5, 1400) in fields
    assert f.facts["mss"] == 1460 and f.facts["path_mtu"] == 1400


def test_offload_findings_group_by_sending_host() -> None:
    pk = sc.tso_on_sender()
    (f,) = findings(offload_artifact.check_capture, pk)
    assert f.facts["mechanism"] == "TSO/GSO" and f.facts["segment"] == 14480
    assert any(e.field == "ip.ttl" and e.observed == 64 for e in f.evidence)


def test_rules_package_exports_are_sorted() -> None:
    import mtuscope.diagnose.rules as rules

    assert rules.__all__ == sorted(rules.__all__)
    assert all(hasattr(rules, n) for n in rules.__all__)
