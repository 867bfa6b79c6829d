"""No advice that contradicts itself (issue 11, point 9): a too-big message whose MTU is not
smaller than the packet it quotes is unusable, and no finding of the same report then says
"PMTUD works here"; when the quoted packet plus an Ethernet header (14, 18 with a VLAN tag)
exceeds the claimed MTU, the advice names the likely cause.
"""

from __future__ import annotations

from typing import Any

import pytest

from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.compare import diagnose_compare
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.passive import analyse, finish
from mtuscope.passive.compare import compare_captures
from passive import scenarios as sc
from passive.compare_flows import Flow, full, summarise, table
from passive.tables import packet_table, too_big

WORKS = "PMTUD works here"
QUOTED = (sc.S4, sc.SPORT, sc.C4, sc.CPORT)


def report(*messages: tuple[int, int]) -> tuple[Finding, ...]:
    """A server sending 1460-byte segments, answered by too-big messages (mtu, quoted_len)
    from one router."""
    srv = sc.Server(ttl=57)
    pk = sc.handshake()
    start = srv.nxt
    for mtu, quoted in messages:
        pk += [srv.send(1460, seq=start), too_big(sc.R4, sc.S4, mtu=mtu, quoted=QUOTED,
                                                  quoted_len=quoted)]  # fmt: skip
    pk.append(srv.ack(start + 1460))
    return diagnose_capture(finish(analyse(packet_table(pk), capture="t.pcap")))


def of(found: tuple[Finding, ...], kind: str) -> list[Finding]:
    return [f for f in found if f.kind == kind]


@pytest.mark.parametrize(
    ("mtu", "header", "which"),
    [(1500, 14, "Ethernet header"), (1510, 14, "Ethernet header"),
     (1514, 18, "Ethernet and VLAN headers"), (1517, 18, "Ethernet and VLAN headers")],
)  # fmt: skip
def test_mtu_the_packet_fits_names_the_counted_header(mtu: int, header: int, which: str) -> None:
    found = report((mtu, 1500), (mtu, 1500))
    assert all(WORKS not in f.advice for f in found)
    (icmp,) = of(found, "icmp-too-big")
    (failure,) = of(found, "pmtud-failure")
    assert icmp.severity is Severity.WARNING and icmp.facts["path_mtu"] is None
    for f in (icmp, failure):
        assert f.facts["link_header"] == header
        assert f"{which} ({header} bytes) is {1500 + header}" in f.advice
        assert "crypto map applied to the tunnel interface" in f.advice


def test_mtu_far_above_the_packet_is_unusable_without_a_header_guess() -> None:
    found = report((9000, 1500), (9000, 1500))
    assert all(WORKS not in f.advice for f in found)
    (icmp,) = of(found, "icmp-too-big")
    assert icmp.facts["link_header"] is None and "crypto map" not in icmp.advice
    assert "unusable" in icmp.advice


def test_one_unusable_message_makes_its_mtu_unusable() -> None:
    """The same MTU, once for a packet it refuses rightly and once for one it fits."""
    found = report((1492, 1500), (1492, 1400))
    assert all(WORKS not in f.advice for f in found)
    (icmp,) = of(found, "icmp-too-big")
    assert icmp.severity is Severity.WARNING and icmp.facts["problem"] == "not-smaller"
    assert icmp.facts["path_mtu"] is None and icmp.facts["quoted_len"] == 1400


def test_a_router_that_also_sends_unusable_mtus_is_no_working_pmtud() -> None:
    found = report((1400, 1500), (1500, 1500))
    assert all(WORKS not in f.advice for f in found)
    usable = [f for f in of(found, "icmp-too-big") if f.facts["icmp_mtu"] == 1400]
    assert usable and usable[0].facts["unusable_too"] == 1
    assert "cannot be relied on" in usable[0].advice


def test_a_usable_message_alone_still_says_pmtud_works() -> None:
    (icmp,) = of(report((1400, 1500)), "icmp-too-big")
    assert icmp.severity is Severity.INFO and WORKS in icmp.advice


def _icmp(mtu: int, quoted_len: int, ts: int) -> dict[str, Any]:
    return {
        "src": "198.51.100.254", "dst": "203.0.113.5", "proto": 1, "icmp_type": 3,
        "icmp_code": 4, "icmp_mtu": mtu, "ttl": 250, "thl": 8, "q_src": "203.0.113.5",
        "q_dst": "192.0.2.10", "q_proto": 6, "q_sport": 443, "q_dport": 40000,
        "q_ip_len": quoted_len, "ts_ns": ts,
    }  # fmt: skip


def test_compare_reads_the_quoted_packet_too() -> None:
    f = Flow(segments=full(0, [200]) + full(1, [1448] * 4))
    a, b = f.at(), f.at(delay_ms=0.1)
    b.append(_icmp(1500, 1500, b[-1]["ts_ns"] + 1))
    r = compare_captures(
        summarise([table(a)], capture="client.pcap"), summarise([table(b)], capture="server.pcap")
    )
    assert [i.quoted_len for i in r.icmp] == [1500]
    found = diagnose_compare(r)
    assert all(WORKS not in x.advice for x in found)
    (icmp,) = of(found, "icmp-too-big")
    assert icmp.severity is Severity.WARNING and icmp.facts["link_header"] == 14
    assert "unusable" in icmp.summary and "crypto map" in icmp.advice
