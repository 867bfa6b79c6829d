"""The receiving side's view of a black hole (`ReceiverBlackHole`), and when it stays silent."""

from __future__ import annotations

from mtuscope.passive import CaptureAnalysis, ReceiverBlackHole, analyse, finish
from passive import scenarios as sc
from passive.tables import packet_table, tcp


def run(packets: sc.Packets) -> CaptureAnalysis:
    return finish(analyse(packet_table(packets), capture="c.pcap"))


def gaps(a: CaptureAnalysis) -> list[tuple[str, ReceiverBlackHole]]:
    return [
        (role, h)
        for conn in a.connections
        for role, sender, _ in conn.endpoints()
        for h in sender.black_holes
        if isinstance(h, ReceiverBlackHole)
    ]


def test_jump_after_the_handshake_is_a_receiver_side_black_hole() -> None:
    ((role, g),) = gaps(run(sc.receiver_blackhole()))
    assert role == "server" and g.seen_from == "receiver"
    assert g.missing == 11 * 1448
    assert g.gap_start_raw == (sc.ISN_S + 1) % (1 << 32)
    assert g.seq_raw == (sc.ISN_S + 1 + 11 * 1448) % (1 << 32)  # the sequence wrapped
    assert (g.last_in_order_frame, g.jump_frame, g.receiver_frame) == (2, 5, 4)
    assert g.receiver_ack_raw == g.gap_start_raw
    assert (g.segment, g.packet_size, g.mtu_high) == (1460, 1500, 1499)
    assert g.largest_arrived == g.mtu_low == 40  # the bare ACK (no options in the table)
    assert g.end is None  # the client's FIN came before the jump
    assert not g.too_big_seen


def test_small_data_after_the_gap_still_counts() -> None:
    pk = sc.receiver_blackhole()[:-1]  # drop the server's bare ACK
    tail = tcp(sc.S4, sc.SPORT, sc.C4, sc.CPORT, flags="PA", seq=sc.ISN_S + 1 + 4 * 1448)
    pk.append({**tail, "payload": 200, "ack": sc.ISN_C + 2})
    ((_, g),) = gaps(run(pk))
    assert g.missing == 4 * 1448 and g.jump_frame == 5 and g.largest_arrived == 240


def test_repaired_loss_is_silent() -> None:
    a = run(sc.receiver_blackhole(repaired=True))
    assert gaps(a) == []


def test_gap_the_receiver_acks_is_silent() -> None:
    assert gaps(run(sc.receiver_blackhole(gap_acked=True))) == []


def test_icmp_matched_connection_is_silent() -> None:
    assert gaps(run(sc.receiver_blackhole(icmp=True))) == []


def test_gap_below_one_segment_is_silent() -> None:
    assert gaps(run(sc.receiver_blackhole(gap=1000))) == []


def test_full_segments_arriving_rule_it_out() -> None:
    """Full-size segments got through (before or after): not a black hole for that size."""
    srv = sc.Server(ttl=52)
    pk = [*sc.handshake(), srv.send(1460), srv.ack()]
    srv.nxt += 8 * 1460  # lost (or not captured)
    pk += [srv.send(1460), srv.ack(srv.nxt - 9 * 1460)]
    assert gaps(run(pk)) == []


def test_healthy_and_sender_side_black_hole_stay_silent() -> None:
    assert gaps(run(sc.healthy())) == []
    assert gaps(run(sc.blackhole())) == []
