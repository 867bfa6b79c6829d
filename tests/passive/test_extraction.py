"""One flow extraction for analyze and compare: the same connections, ids, clients, too-bigs."""

from __future__ import annotations

from typing import Any

from mtuscope.passive import analyse, finish
from mtuscope.passive.compare import compare_captures
from passive import scenarios as sc
from passive.compare_flows import summarise
from passive.tables import packet_table, tcp, too_big

Packets = list[dict[str, Any]]


def _both(packets: Packets) -> tuple[Any, Any]:
    t = packet_table(packets)
    return finish(analyse(t, capture="x")), summarise([t], capture="x")


def test_connections_ids_clients_and_families_agree() -> None:
    packets = sc.apart(sc.healthy(), sc.blackhole(), sc.icmp_ignored(), sc.no_mss_option())
    # No handshake, equal ports: the sender of the first packet is the client at both.
    packets += [
        tcp("198.51.100.9", 5000, "192.0.2.9", 5000, flags="PA", payload=10),
        tcp("192.0.2.9", 5000, "198.51.100.9", 5000, flags="A"),
    ]
    # Pure ACKs only: a family all the same.
    packets += [tcp("2001:db8::9", 7, "2001:db8::8", 40000, flags="A")]
    a, s = _both(packets)
    rows = s.conns.sort("id").iter_rows(named=True)
    got = [(r["id"], r["family"], int(r["client_port"]), int(r["server_port"])) for r in rows]
    want = [(c.id, c.family, c.client.port, c.server.port) for c in a.connections]
    assert got == want
    assert got[-2][1:] == (4, 5000, 5000) and got[-1] == (len(got), 6, 40000, 7)
    (eq,) = [c for c in a.connections if c.client.port == c.server.port]
    assert eq.client.address == "198.51.100.9" and eq.client_rule == "port"


def test_both_verbs_count_the_same_too_big_messages() -> None:
    quoted = (sc.S4, sc.SPORT, sc.C4, sc.CPORT)
    fragment = too_big("198.51.100.254", sc.S4, mtu=1400, quoted=quoted) | {"fragment": True}
    wrong_proto = too_big("198.51.100.254", sc.S4, mtu=1400, quoted=quoted) | {"proto": 17}
    packets = sc.icmp_ignored() + [fragment, wrong_proto]
    a, s = _both(packets)
    r = compare_captures(s, s)
    assert [m.frame for m in a.icmp_too_big] == [i.frame for i in r.icmp if i.point == "a"]
    assert [m.connection for m in a.icmp_too_big] == [
        i.connection for i in r.icmp if i.point == "a"
    ]
    assert [m.sender for m in a.icmp_too_big] == [i.sender for i in r.icmp if i.point == "a"]
    assert len(a.icmp_too_big) == len(sc.icmp_ignored()) - len(
        [p for p in sc.icmp_ignored() if p.get("proto", 6) == 6]
    )
