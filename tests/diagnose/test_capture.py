"""diagnose_capture runs the whole registry over one analysis."""

from __future__ import annotations

from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.findings import KINDS
from mtuscope.passive import analyse, finish
from passive import scenarios as sc
from passive.tables import packet_table


def test_healthy_capture_has_no_findings() -> None:
    a = finish(analyse(packet_table(sc.healthy()), capture="ok.pcap"))
    assert diagnose_capture(a) == ()


def test_findings_in_registry_order_with_platform_advice() -> None:
    pk = sc.icmp_ignored()
    a = finish(analyse(packet_table(pk), capture="bad.pcap"))
    found = diagnose_capture(a, platform="linux")
    kinds = [f.kind for f in found]
    assert kinds[:3] == ["pmtud-failure", "oversized-mss", "icmp-too-big"]
    assert all(f.kind in KINDS for f in found)
    assert any("mtu 1400" in f.advice for f in found)  # a Linux snippet is appended
    plain = diagnose_capture(a)
    assert all("ip link" not in f.advice for f in plain)
