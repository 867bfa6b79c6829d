"""Test-only packet sequences that show one MTU/MSS situation each (for passive/ and diagnose/).

Addresses are documentation prefixes only. Every function returns a list of packet
dicts for `passive.tables.packet_table`.
"""

from __future__ import annotations

from typing import Any

from passive.tables import tcp, too_big

C4, S4, R4 = "192.0.2.10", "198.51.100.20", "203.0.113.1"
C6, S6, R6 = "2001:db8:1::10", "2001:db8:2::20", "2001:db8:ff::1"
CPORT, SPORT = 51000, 443
ISN_C, ISN_S = 1_000, 2**32 - 3_000  # the server's sequence numbers wrap


Packets = list[dict[str, Any]]


def handshake(
    c: str = C4, s: str = S4, *, mss_c: int = 1460, mss_s: int = 1460, ttl_s: int = 64
) -> Packets:
    """SYN, SYN/ACK, ACK (mss -1: no option)."""
    return [
        tcp(c, CPORT, s, SPORT, flags="S", seq=ISN_C, mss=mss_c, wscale=7, sack_perm=True),
        tcp(s, SPORT, c, CPORT, flags="SA", seq=ISN_S, ack=ISN_C + 1, mss=mss_s, ttl=ttl_s),
        tcp(c, CPORT, s, SPORT, flags="A", seq=ISN_C + 1, ack=ISN_S + 1),
    ]


class Server:
    """Builds server->client data and client acks with running sequence numbers."""

    def __init__(self, c: str = C4, s: str = S4, *, ttl: int = 64) -> None:
        self.c, self.s, self.ttl = c, s, ttl
        self.nxt = ISN_S + 1

    def send(self, size: int, *, seq: int | None = None, **more: Any) -> dict[str, Any]:
        at = self.nxt if seq is None else seq
        if seq is None:
            self.nxt += size
        more.setdefault("ttl", self.ttl)
        return tcp(
            self.s, SPORT, self.c, CPORT, flags="PA", seq=at, ack=ISN_C + 1, payload=size, **more
        )

    def ack(self, upto: int | None = None) -> dict[str, Any]:
        return tcp(
            self.c,
            CPORT,
            self.s,
            SPORT,
            flags="A",
            seq=ISN_C + 1,
            ack=self.nxt if upto is None else upto,
        )


def healthy(c: str = C4, s: str = S4) -> Packets:
    """A clean transfer: MSS 1460 (1440 for IPv6) both ways, full segments, all acked."""
    mss = 1460 if ":" not in c else 1440
    srv = Server(c, s, ttl=57)
    out = handshake(c, s, mss_c=mss, mss_s=mss)
    for _ in range(4):
        out += [srv.send(mss), srv.send(mss), srv.ack()]
    out.append(srv.send(300))
    out.append(srv.ack())
    return out


def blackhole(*, recover: bool = True) -> Packets:
    """1400-byte segments pass; a 1460-byte one is retransmitted three times unanswered."""
    srv = Server(ttl=57)
    out = handshake()
    for _ in range(3):
        out += [srv.send(1400), srv.ack()]
    stalled = srv.nxt
    out.append(srv.send(1460))
    out += [srv.send(1460, seq=stalled) for _ in range(3)]
    if recover:
        out.append(srv.send(1000, seq=stalled))  # MTU probing: a smaller retransmission
        out.append(srv.ack(stalled + 1000))
    else:
        out.append(tcp(C4, CPORT, S4, SPORT, flags="RA", seq=ISN_C + 1, ack=stalled))
    return out


def icmp_ignored() -> Packets:
    """Two too-big messages (MTU 1400) quote the server, which keeps sending 1460 bytes."""
    srv = Server(ttl=57)
    out = handshake()
    quoted = (S4, SPORT, C4, CPORT)
    out += [srv.send(1460), too_big(R4, S4, mtu=1400, quoted=quoted, ttl=253)]
    out += [srv.send(1460), too_big(R4, S4, mtu=1400, quoted=quoted, ttl=253)]
    out += [srv.send(1460), srv.ack()]
    return out


def icmp_honoured(c: str = C6, s: str = S6, router: str = R6) -> Packets:
    """One too-big (MTU 1400), then the server sends segments that fit."""
    srv = Server(c, s, ttl=57)
    out = handshake(c, s, mss_c=1440, mss_s=1440)
    first = srv.nxt
    out += [srv.send(1440), too_big(router, s, mtu=1400, quoted=(s, SPORT, c, CPORT), ttl=60)]
    out += [srv.send(1340, seq=first), srv.send(100, seq=first + 1340), srv.ack()]
    return out


def useless_icmp() -> Packets:
    """A too-big message with MTU 0 (pre-RFC 1191 router)."""
    srv = Server(ttl=57)
    return [
        *handshake(),
        srv.send(1460),
        too_big(R4, S4, mtu=0, quoted=(S4, SPORT, C4, CPORT), ttl=250),
        srv.ack(),
    ]


def mss_floor() -> Packets:
    """The client announces MSS 500; the (Windows) server sends 536-byte segments."""
    srv = Server(ttl=120)
    out = handshake(mss_c=500, mss_s=1460, ttl_s=120)
    out += [srv.send(536), srv.send(536), srv.ack()]
    return out


def tso_on_sender() -> Packets:
    """Captured on the server: 14480-byte TSO segments with TTL 64, acked by the client."""
    srv = Server(ttl=64)
    out = handshake(ttl_s=64)
    out += [srv.send(14480), srv.send(1460), srv.ack()]
    return out


def tso_zero_length() -> Packets:
    """Captured on the server: a TSO segment whose IPv4 total length field is 0."""
    srv = Server(ttl=64)
    out = handshake()
    out += [srv.send(5792, ip_len=0), srv.ack()]
    return out


def gro_on_receiver() -> Packets:
    """Captured on the client: the NIC merged two segments (2920 bytes, TTL 52)."""
    srv = Server(ttl=52)
    out = handshake(ttl_s=52)
    out += [srv.send(2920), srv.ack()]
    return out


def exceeds_mss(*, acked: bool = True) -> Packets:
    """The client announces 1360; the server sends 1460-byte segments (TTL 57: on the wire)."""
    srv = Server(ttl=57)
    out = handshake(mss_c=1360)
    out += [srv.send(1360), srv.send(1460)]
    if acked:
        out.append(srv.ack())
    else:
        out.append(srv.ack(srv.nxt - 1460))
    return out


def undersized(*, mss: int = 1200) -> Packets:
    srv = Server(ttl=57)
    out = handshake(mss_c=mss, mss_s=1460)
    out += [srv.send(mss), srv.ack()]
    return out


def no_mss_option() -> Packets:
    """A client SYN without an MSS option: the server may send only 536 bytes."""
    srv = Server(ttl=57)
    out = handshake(mss_c=-1)
    out += [srv.send(536), srv.ack()]
    return out


def fragments(*, proto: int = 17, df: bool = False, v6: bool = False) -> Packets:
    src, dst = (C6, S6) if v6 else (C4, S4)
    frag = {
        "src": src,
        "dst": dst,
        "proto": proto,
        "fragment": True,
        "ip_id": 99,
        "df": df,
        "thl": 0,
    }
    return [
        {**frag, "mf": True, "frag_off": 0, "payload": 1480},
        {**frag, "mf": False, "frag_off": 1480, "payload": 520},
    ]


def receiver_blackhole(
    *, repaired: bool = False, gap_acked: bool = False, icmp: bool = False, gap: int = 11 * 1448
) -> Packets:
    """Captured on the client: after the handshake the server's full segments (`gap` bytes)
    never arrive; the client's FIN and the ACK stay at the server's ISN+1, and the server's
    bare ACK shows its sequence number `gap` bytes further on.

    repaired: the missing bytes arrive later (full segments) and the client acks them.
    gap_acked: the client's ACK covers the gap (the capture point missed the segments).
    icmp: an ICMP too-big quoting the server's packets was captured.
    """
    out = handshake()
    start = ISN_S + 1
    if icmp:
        out.append(too_big(R4, S4, mtu=1400, quoted=(S4, SPORT, C4, CPORT)))
    ack = start + gap if gap_acked else start
    out.append(tcp(C4, CPORT, S4, SPORT, flags="FA", seq=ISN_C + 1, ack=ack))
    out.append(tcp(S4, SPORT, C4, CPORT, flags="A", seq=start + gap, ack=ISN_C + 2, ttl=52))
    if repaired:
        srv = Server(ttl=52)
        for _ in range(gap // 1448):
            out.append(srv.send(1448))
        out.append(srv.ack())
    return out


def apart(*scenarios: Packets) -> Packets:
    """The scenarios one after the other, each with its own client port."""
    out: Packets = []
    for k, packets in enumerate(scenarios):
        for p in packets:
            q = dict(p)
            for f in ("sport", "dport", "q_sport", "q_dport"):
                if q.get(f) == 51000:
                    q[f] = 51000 + k
            out.append(q)
    return out
