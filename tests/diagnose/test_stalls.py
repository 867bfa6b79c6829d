"""Stalls read as an expert would: an outage is not a black hole, a session that dies of an
MSS floor is an error, and the black-hole rule's boundaries (issue 11, points 7 and 8).

Every capture is built in the test: packet tables for the rules, a pcap for the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.passive import BlackHole, CaptureAnalysis, analyse, finish
from mtuscope.report.schema import validate_report
from mtuscope.wire.tcp import TcpFlags
from passive import scenarios as sc
from passive.pcaps import ACK, SYN, SYN_ACK, eth, tcp_ip, write_pcap
from passive.tables import packet_table, tcp


def run(packets: sc.Packets) -> CaptureAnalysis:
    return finish(analyse(packet_table(packets), capture="t.pcap"))


def of(found: tuple[Finding, ...], kind: str) -> list[Finding]:
    return [f for f in found if f.kind == kind]


def reset() -> dict[str, object]:
    return tcp(sc.C4, sc.CPORT, sc.S4, sc.SPORT, flags="R", seq=sc.ISN_C + 1)


def outage(*, passed: int = 1460) -> sc.Packets:
    """Three `passed`-byte segments sent and acked, then a 1460-byte one retransmitted three
    times until the client resets."""
    srv = sc.Server(ttl=57)
    out = sc.handshake()
    for _ in range(3):
        out += [srv.send(passed), srv.ack()]
    stalled = srv.nxt
    out.append(srv.send(1460))
    out += [srv.send(1460, seq=stalled) for _ in range(3)]
    out.append(reset())
    return out


def test_outage_after_full_size_segments_is_not_a_black_hole() -> None:
    a = run(outage())
    (hole,) = a.connections[0].server.black_holes
    assert isinstance(hole, BlackHole)
    assert (hole.passed_frame, hole.passed_size) == (4, 1500)
    found = diagnose_capture(a)
    assert not [f for f in found if f.severity is Severity.ERROR]
    (f,) = of(found, "pmtud-blackhole")
    assert f.severity is Severity.INFO
    assert "loss after full-size segments got through: not an MTU problem" in f.summary
    assert f.facts["path_mtu"] is None and f.facts["passed_frame"] == 4
    assert {e.frame for e in f.evidence} >= {4, 11, 12, 13, 14}
    assert "not the cause" in f.advice and "clamp" not in f.advice.split("Do not")[0]


def test_smaller_segments_that_passed_still_make_a_black_hole() -> None:
    """The guard needs a packet at least as big: 1400-byte ones do not clear 1500 bytes."""
    found = diagnose_capture(run(outage(passed=1400)))
    (f,) = of(found, "pmtud-blackhole")
    assert f.severity is Severity.ERROR
    assert (f.facts["mtu_low"], f.facts["mtu_high"]) == (1440, 1499)
    # point 8: the black-holed segment retransmitted until the reset names the reset frame
    assert f.facts["end_frame"] == 14 and "reset (frame 14)" in f.summary
    assert 14 in {e.frame for e in f.evidence if e.field == "tcp.flags.reset"}


def windows_floor(*, end: str | None = "rst", retransmissions: int = 3) -> sc.Packets:
    """The client announces MSS 500; the (Windows) server sends 536 bytes anyway; one is
    retransmitted until the client resets (`end` "rst"), closes ("fin") or nothing (None)."""
    srv = sc.Server(ttl=120)
    out = sc.handshake(mss_c=500, mss_s=1460, ttl_s=120)
    out += [srv.send(536), srv.ack()]
    stalled = srv.nxt
    out.append(srv.send(536))
    out += [srv.send(536, seq=stalled) for _ in range(retransmissions)]
    if end == "rst":
        out.append(reset())
    elif end == "fin":
        out.append(tcp(sc.C4, sc.CPORT, sc.S4, sc.SPORT, flags="FA", seq=sc.ISN_C + 1, ack=stalled))
    return out


def test_session_dying_of_the_mss_floor_is_an_error_naming_the_reset() -> None:
    found = diagnose_capture(run(windows_floor()))
    (f,) = of(found, "mss-floor-ignored")
    assert f.severity is Severity.ERROR
    assert f.facts["end_frame"] == 10 and f.facts["end"] == "rst"
    assert "reset (frame 10)" in f.summary
    resets = [e for e in f.evidence if e.field == "tcp.flags.reset"]
    assert [e.frame for e in resets] == [10]
    assert {7, 8, 9} <= {e.frame for e in f.evidence}
    # a 576-byte packet is no black hole: every path carries it
    assert not of(found, "pmtud-blackhole")


def test_abandoned_floor_session_is_an_error_and_acked_floor_stays_a_warning() -> None:
    (gone,) = of(diagnose_capture(run(windows_floor(end=None))), "mss-floor-ignored")
    assert gone.severity is Severity.ERROR and gone.facts["end"] == "abandoned"
    assert "abandoned" in gone.summary
    (closed,) = of(diagnose_capture(run(windows_floor(end="fin"))), "mss-floor-ignored")
    assert closed.severity is Severity.ERROR and closed.facts["end"] == "fin"
    (fine,) = of(diagnose_capture(run(sc.mss_floor())), "mss-floor-ignored")
    assert fine.severity is Severity.WARNING and fine.facts["end"] is None
    # one retransmission is not "retransmitted until the session died"
    (once,) = of(diagnose_capture(run(windows_floor(retransmissions=1))), "mss-floor-ignored")
    assert once.severity is Severity.WARNING


def test_windows_floor_reset_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c, s, cp, sp = "192.0.2.1", "198.51.100.2", 50000, 443
    isn_c, isn_s = 100, 5000
    psh = TcpFlags.PSH | TcpFlags.ACK

    def seg(seq: int) -> bytes:
        return tcp_ip(s, c, sp, cp, seq=seq, ack=isn_c + 1, flags=psh, payload=b"x" * 536, ttl=120)

    frames = [
        tcp_ip(c, s, cp, sp, seq=isn_c, flags=SYN, mss=500),
        tcp_ip(s, c, sp, cp, seq=isn_s, ack=isn_c + 1, flags=SYN_ACK, mss=1460, ttl=120),
        tcp_ip(c, s, cp, sp, seq=isn_c + 1, ack=isn_s + 1, flags=ACK),
        seg(isn_s + 1),
        tcp_ip(c, s, cp, sp, seq=isn_c + 1, ack=isn_s + 537, flags=ACK),
        *(seg(isn_s + 537) for _ in range(4)),
        tcp_ip(c, s, cp, sp, seq=isn_c + 1, flags=TcpFlags.RST),
    ]
    path = write_pcap(tmp_path / "win536.pcap", [eth(0x0800, f) for f in frames])
    code = main(["analyze", path, "--json"])
    doc = json.loads(capsys.readouterr().out)
    (f,) = [f for f in doc["findings"] if f["kind"] == "mss-floor-ignored"]
    assert code == 1 and f["severity"] == "error"
    assert 10 in {e["frame"] for e in f["evidence"]}


# The black-hole rule's boundaries: two retransmissions are enough, one is not; an ACK
# exactly at the segment's end acknowledges it, one byte short does not.


def stalled(retransmissions: int, *, ack_short: int | None = None) -> sc.Packets:
    srv = sc.Server(ttl=57)
    out = sc.handshake()
    out += [srv.send(1400), srv.ack()]
    start = srv.nxt
    out.append(srv.send(1460))
    out += [srv.send(1460, seq=start) for _ in range(retransmissions)]
    if ack_short is not None:
        out.append(srv.ack(start + 1460 - ack_short))
    return out


@pytest.mark.parametrize(("retransmissions", "hole"), [(1, False), (2, True), (3, True)])
def test_black_hole_needs_two_retransmissions(retransmissions: int, hole: bool) -> None:
    a = run(stalled(retransmissions))
    holes = a.connections[0].server.black_holes
    assert len(holes) == (1 if hole else 0)
    found = of(diagnose_capture(a), "pmtud-blackhole")
    assert [f.severity for f in found] == ([Severity.ERROR] if hole else [])
    if hole:
        assert found[0].facts["retransmissions"] == retransmissions
        assert (found[0].facts["mtu_low"], found[0].facts["mtu_high"]) == (1440, 1499)


@pytest.mark.parametrize(("short", "hole"), [(0, False), (1, True)])
def test_ack_exactly_at_the_segment_end_acknowledges_it(short: int, hole: bool) -> None:
    a = run(stalled(3, ack_short=short))
    assert len(a.connections[0].server.black_holes) == (1 if hole else 0)
    assert bool(of(diagnose_capture(a), "pmtud-blackhole")) is hole


@pytest.mark.parametrize(("short", "low"), [(0, 1440), (1, 40)])
def test_smaller_segment_acked_exactly_at_its_end_sets_the_lower_bound(
    short: int, low: int
) -> None:
    """The 1400-byte segment counts as passed when the ACK reaches exactly its end."""
    srv = sc.Server(ttl=57)
    out = sc.handshake()
    first = srv.nxt
    out += [srv.send(1400), srv.ack(first + 1400 - short)]
    start = srv.nxt
    out.append(srv.send(1460))
    out += [srv.send(1460, seq=start) for _ in range(3)]
    (f,) = of(diagnose_capture(run(out)), "pmtud-blackhole")
    assert f.facts["mtu_low"] == low


def test_one_retransmission_is_no_black_hole_on_a_side_with_other_stalls() -> None:
    """The side is examined (another segment was retransmitted twice, then acked), yet a
    segment retransmitted only once is not a black hole."""
    srv = sc.Server(ttl=57)
    out = sc.handshake()
    first = srv.nxt
    out += [srv.send(1400), srv.send(1400, seq=first), srv.send(1400, seq=first), srv.ack()]
    start = srv.nxt
    out += [srv.send(1460), srv.send(1460, seq=start)]
    a = run(out)
    assert a.connections[0].server.black_holes == ()
    assert not of(diagnose_capture(a), "pmtud-blackhole")


def test_outage_exits_0_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three 1460-byte segments acknowledged, then one retransmitted three times until a
    reset: the report says it is not an MTU problem, the JSON validates, exit 0."""
    c, s, cp, sp = "192.0.2.1", "198.51.100.2", 50000, 443
    isn_c, isn_s = 100, 5000
    psh = TcpFlags.PSH | TcpFlags.ACK

    def seg(seq: int) -> bytes:
        return tcp_ip(s, c, sp, cp, seq=seq, ack=isn_c + 1, flags=psh, payload=b"x" * 1460)

    def ack(upto: int) -> bytes:
        return tcp_ip(c, s, cp, sp, seq=isn_c + 1, ack=upto, flags=ACK)

    frames = [
        tcp_ip(c, s, cp, sp, seq=isn_c, flags=SYN, mss=1460),
        tcp_ip(s, c, sp, cp, seq=isn_s, ack=isn_c + 1, flags=SYN_ACK, mss=1460),
        ack(isn_s + 1),
    ]
    nxt = isn_s + 1
    for _ in range(3):
        frames += [seg(nxt), ack(nxt + 1460)]
        nxt += 1460
    frames += [seg(nxt) for _ in range(4)]
    frames.append(tcp_ip(c, s, cp, sp, seq=isn_c + 1, flags=TcpFlags.RST))
    path = write_pcap(tmp_path / "outage.pcap", [eth(0x0800, f) for f in frames])
    code = main(["analyze", path, "--json"])
    doc = json.loads(capsys.readouterr().out)
    validate_report(doc)
    (f,) = [f for f in doc["findings"] if f["kind"] == "pmtud-blackhole"]
    assert code == 0 and f["severity"] == "info"
    assert "not an MTU problem" in f["summary"] and f["facts"]["passed_frame"] == 4
    assert main(["analyze", path]) == 0
    assert "loss after full-size segments got through" in capsys.readouterr().out
