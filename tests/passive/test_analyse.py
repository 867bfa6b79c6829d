"""analyse/finish on hand-built tables: connections, MSS, ICMP, black holes, offload, fragments."""

from __future__ import annotations

from mtuscope.capture.table import Encap
from mtuscope.passive import BlackHole, CaptureAnalysis, Connection, analyse, finish
from passive import scenarios as sc
from passive.tables import packet_table, tcp, too_big


def run(packets: sc.Packets, name: str = "t.pcap") -> CaptureAnalysis:
    return finish(analyse(packet_table(packets), capture=name))


def test_handshake_gives_client_server_mss_and_effective_mss() -> None:
    a = run(sc.healthy())
    (conn,) = a.connections
    assert conn.id == 1 and conn.family == 4 and conn.client_rule == "syn"
    assert (conn.client.address, conn.client.port) == (sc.C4, sc.CPORT)
    assert (conn.server.address, conn.server.port) == (sc.S4, sc.SPORT)
    assert conn.client.mss == 1460 and conn.server.mss == 1460
    assert conn.client.handshake_frame == 1 and conn.server.handshake_frame == 2
    assert conn.client.wscale == 7 and conn.client.sack_perm
    assert conn.server.effective_mss == 1460
    assert conn.server.max_segment == 1460 and conn.server.max_segment_frame == 4
    assert conn.retransmissions == 0 and conn.resets == 0
    assert conn.server.oversized is None and conn.server.black_holes == ()
    assert conn.server.bytes == 8 * 1460 + 300


def test_ipv6_connection_and_default_mss_without_option() -> None:
    a = run(sc.healthy(sc.C6, sc.S6))
    assert a.connections[0].family == 6
    assert a.connections[0].client.address == sc.C6
    b = run(sc.no_mss_option())
    assert b.connections[0].client.mss is None
    assert b.connections[0].server.effective_mss == 536  # RFC 9293 §3.7.1 default


def test_client_without_handshake_is_the_higher_port() -> None:
    pk = [tcp(sc.S4, 443, sc.C4, 51000, flags="PA", seq=5, payload=100)]
    conn = run(pk).connections[0]
    assert conn.client_rule == "port"
    assert conn.server.port == 443 and conn.client.port == 51000
    assert conn.server.effective_mss is None  # no handshake: unknown


def test_client_from_syn_ack_only() -> None:
    pk = [tcp(sc.S4, 443, sc.C4, 80, flags="SA", seq=5, ack=9, mss=1400)]
    conn = run(pk).connections[0]
    assert conn.client_rule == "syn-ack"
    assert (conn.client.port, conn.server.port, conn.server.mss) == (80, 443, 1400)


def test_retransmissions_across_sequence_wrap() -> None:
    a = run(sc.blackhole())
    server = a.connections[0].server
    assert server.retransmissions == 4  # three identical copies and the smaller one
    assert a.connections[0].client.retransmissions == 0


def test_icmp_too_big_is_matched_with_ttl_guess() -> None:
    a = run(sc.icmp_ignored())
    first = a.icmp_too_big[0]
    assert (first.frame, first.mtu, first.sender) == (5, 1400, sc.R4)
    assert (first.ttl, first.initial_ttl_guess) == (253, 255)
    assert "Cisco" in first.sender_hint
    assert first.connection == 1 and first.direction == "server"
    assert first.problem is None and first.quoted_len == 1500
    conn = a.connections[0]
    assert conn.server.path_mtu == 1400 and conn.client.path_mtu is None
    assert conn.server.effective_mss == 1360
    assert conn.too_big_frames == (5, 7)


def test_icmpv6_too_big() -> None:
    a = run(sc.icmp_honoured())
    (msg,) = a.icmp_too_big
    assert msg.family == 6 and msg.sender == sc.R6 and msg.initial_ttl_guess == 64
    assert msg.connection == 1 and a.connections[0].server.path_mtu == 1400


def test_useless_and_unmatched_too_big() -> None:
    a = run(sc.useless_icmp())
    assert a.icmp_too_big[0].problem == "zero"
    assert a.connections[0].server.path_mtu is None
    other = run([too_big(sc.R4, sc.S4, mtu=1400, quoted=(sc.S4, 1, sc.C4, 2))])
    assert other.icmp_too_big[0].connection is None and other.connections == ()


def test_black_hole_with_recovery() -> None:
    (hole,) = run(sc.blackhole()).connections[0].server.black_holes
    assert isinstance(hole, BlackHole)
    assert hole.size == 1460 and hole.packet_size == 1500
    assert hole.frames == (11, 12, 13) and hole.retransmissions == 3
    assert hole.acked_size == 1400
    assert (hole.mtu_low, hole.mtu_high) == (1440, 1499)
    assert (hole.recovery_frame, hole.recovery_size) == (14, 1000)
    assert not hole.too_big_seen
    assert hole.seq_raw == (sc.ISN_S + 1 + 3 * 1400) % 2**32


def test_black_hole_ended_by_reset() -> None:
    (hole,) = run(sc.blackhole(recover=False)).connections[0].server.black_holes
    assert isinstance(hole, BlackHole)
    assert hole.recovery_frame is None and (hole.end_frame, hole.end) == (14, "rst")


def test_acknowledged_retransmissions_are_no_black_hole() -> None:
    srv = sc.Server(ttl=57)
    pk = sc.handshake()
    pk += [srv.send(1000), srv.ack()]
    start = srv.nxt
    pk += [srv.send(1460), srv.ack(), srv.send(1460, seq=start), srv.send(1460, seq=start)]
    assert run(pk).connections[0].server.black_holes == ()


def test_segments_over_mss_and_offload_classification() -> None:
    over = run(sc.exceeds_mss()).connections[0].server.oversized
    assert over is not None and not over.artifact
    assert (over.limit, over.count, over.first_frame, over.largest) == (1360, 1, 5, 1460)
    assert over.acked
    unacked = run(sc.exceeds_mss(acked=False)).connections[0].server.oversized
    assert unacked is not None and not unacked.acked

    tso = run(sc.tso_on_sender()).connections[0].server.oversized
    assert tso is not None and tso.artifact and tso.mechanism == "TSO/GSO"
    assert tso.sender_side and tso.largest == 14480
    zero = run(sc.tso_zero_length()).connections[0].server.oversized
    assert zero is not None and zero.ip_len_zero == 1 and zero.mechanism == "TSO/GSO"
    gro = run(sc.gro_on_receiver()).connections[0].server.oversized
    assert gro is not None and gro.artifact and gro.mechanism == "GRO/LRO"


def test_mss_floor_segments() -> None:
    server = run(sc.mss_floor()).connections[0].server
    assert server.floor_segments == 2 and server.floor_first_frame == 4


def test_fragment_flows() -> None:
    a = run(sc.fragments() + sc.fragments(proto=6, df=True, v6=True))
    v4, v6 = a.fragments
    assert (v4.family, v4.proto, v4.fragments, v4.datagrams, v4.df_fragments) == (4, 17, 2, 1, 0)
    assert (v4.min_len, v4.max_len, v4.first_frame, v4.last_frame) == (540, 1500, 1, 2)
    assert (v6.family, v6.proto, v6.src) == (6, 6, sc.C6)
    assert v6.df_fragments == 0  # IPv6 has no DF bit
    assert a.connections == ()  # fragments are not TCP rows


def test_encapsulation_names_and_overhead() -> None:
    pk = sc.healthy()
    for p in pk[:4]:
        p.update(encap=int(Encap.VLAN), encap_overhead=4)
    conn = run(pk).connections[0]
    assert conn.encapsulation == ("dot1q",)
    assert conn.encap_overhead == (0, 4)


def test_truncated_and_non_ip_rows_are_skipped() -> None:
    pk = sc.healthy()
    pk.append({"family": 0, "proto": 0})
    pk.append({**tcp(sc.C4, 1, sc.S4, 2, payload=10), "truncated": True})
    a = run(pk)
    assert (a.frames, a.ip_packets, a.tcp_packets) == (len(pk), len(pk) - 1, len(pk) - 2)
    assert len(a.connections) == 1


def _matters(conn: Connection) -> bool:
    """What a capture rule may report on (see `CaptureAnalysis.notable`)."""
    return bool(conn.too_big_frames) or any(
        e.black_holes or e.oversized is not None or e.path_mtu is not None or e.floor_segments
        for e in (conn.client, conn.server)
    )


def test_notable_connections_are_exactly_the_ones_findings_need() -> None:
    a = run(
        sc.apart(
            sc.healthy(),
            sc.blackhole(),
            sc.icmp_ignored(),
            sc.exceeds_mss(),
            sc.mss_floor(),
            sc.undersized(),
            sc.no_mss_option(),
            sc.healthy(),
        )
    )
    assert len(a.connections) == a.connection_count > len(a.notable) > 0
    assert a.notable == tuple(c for c in a.connections if _matters(c))
    assert [a.connection(c.id) for c in a.connections] == list(a.connections)
