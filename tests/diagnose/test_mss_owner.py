"""Tests for diagnose.rules.mss_owner: routers' quotes of our SYN probes, and whose an MSS is."""

from __future__ import annotations

from ipaddress import IPv4Address

from mtuscope.active.probe import Probe, ProbeKind, ProbeOutcome, ProbeRecord, Reply, ReplyKind
from mtuscope.diagnose.rules.mss_owner import MssOwner, quoted_mss, reading
from mtuscope.wire.builders import build_tcp

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("203.0.113.2")
HOPS = {1: IPv4Address("192.0.2.2"), 2: IPv4Address("198.51.100.2")}


def _record(pid: int, ttl: int, *, sent_mss: int, seen_mss: int) -> ProbeRecord:
    sent = build_tcp(src=SRC, dst=DST, sport=40000, dport=80, mss=sent_mss, ttl=ttl)
    quote = build_tcp(src=SRC, dst=DST, sport=40000, dport=80, mss=seen_mss, ttl=1)
    return ProbeRecord(
        probe=Probe(
            id=pid, family=4, dst=DST, size=len(sent), ttl=ttl, kind=ProbeKind.TCP_SYN, dport=80
        ),
        sent_at=1.0,
        reply=Reply(
            probe_id=pid,
            kind=ReplyKind.TIME_EXCEEDED,
            from_addr=HOPS[ttl],
            quote=quote,
            sent=sent,
        ),
        replied_at=1.001,
        outcome=ProbeOutcome.REACHED,
    )


def test_quotes_show_where_the_mss_changed() -> None:
    clamped = (
        _record(1, 1, sent_mss=1460, seen_mss=1460),
        _record(2, 2, sent_mss=1460, seen_mss=1300),
    )
    q = quoted_mss(clamped)
    assert q is not None
    assert (q.sent, q.seen, q.hop, q.changed_at, q.address) == (1460, 1300, 2, 2, HOPS[2])
    intact = quoted_mss(clamped[:1])
    assert intact is not None and intact.changed_at is None and intact.hop == 1
    assert quoted_mss(()) is None


def test_reading_the_owner() -> None:
    # Exactly path MTU - 40: the path's.
    assert reading(1360, family=4, path_mtu=1400, host=MssOwner.SERVER).owner is MssOwner.PATH
    # IPv6: path MTU - 60.
    assert reading(1340, family=6, path_mtu=1400, host=MssOwner.SERVER).owner is MssOwner.PATH
    # Below what the path allows, one end, an unconventional value: the host's, unproven.
    own = reading(512, family=4, path_mtu=1500, host=MssOwner.SERVER)
    assert (own.owner, own.proven, own.path_allows) == (MssOwner.SERVER, False, 1460)
    # A conventional clamp value (Cisco's tunnel 1360) on a 1500 path: likely a clamp.
    assert reading(1360, family=4, path_mtu=1500, host=MssOwner.SERVER).owner is MssOwner.CLAMP
    # A second vantage point decides.
    same = reading(1360, family=4, path_mtu=None, host=MssOwner.SERVER, rewritten=False)
    assert (same.owner, same.proven) == (MssOwner.SERVER, True)
    changed = reading(512, family=4, path_mtu=None, host=MssOwner.CLIENT, rewritten=True)
    assert (changed.owner, changed.proven) == (MssOwner.CLAMP, True)
    # The kernel sends less than was announced: its view of the path limits it.
    kernel = reading(1300, family=4, path_mtu=None, host=MssOwner.SERVER, announced=1460)
    assert kernel.owner is MssOwner.PATH and not kernel.proven
