"""Probe, Reply and ProbeRecord: the data a transport implements."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from mtuscope.active.probe import (
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    min_probe_size,
)
from mtuscope.errors import UsageError

V4 = ip_address("192.0.2.7")
V6 = ip_address("2001:db8::7")


def test_sizes_and_payload() -> None:
    assert min_probe_size(4, ProbeKind.ECHO) == 28
    assert min_probe_size(6, ProbeKind.TCP_SYN) == 60
    udp = Probe(id=1, family=4, dst=V4, size=1500, ttl=64, kind=ProbeKind.UDP, dport=33434)
    assert udp.payload_size == 1472  # what an unprivileged UDP socket sends
    syn = Probe(id=2, family=6, dst=V6, size=1280, ttl=3, kind=ProbeKind.TCP_SYN, dport=443)
    assert syn.payload_size == 1220 and syn.df


@pytest.mark.parametrize(
    "kw",
    [
        {"family": 6},  # does not match the address
        {"size": 27},
        {"size": 65536},
        {"ttl": 0},
        {"ttl": 256},
        {"id": -1},
        {"dport": 80},  # echo has no port
        {"kind": ProbeKind.UDP},  # no port
        {"kind": ProbeKind.TCP_SYN, "dport": 0},
    ],
)
def test_impossible_probes_raise_usage_error(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"id": 1, "family": 4, "dst": V4, "size": 100, "ttl": 1}
    args["kind"] = ProbeKind.ECHO
    args.update(kw)
    with pytest.raises(UsageError):
        Probe(**args)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        min_probe_size(5, ProbeKind.ECHO)


def test_ipv6_cannot_clear_df() -> None:
    with pytest.raises(UsageError):
        Probe(id=1, family=6, dst=V6, size=1280, ttl=1, kind=ProbeKind.ECHO, df=False)


def test_reply_reached_and_record_rtt() -> None:
    probe = Probe(id=5, family=4, dst=V4, size=1400, ttl=64, kind=ProbeKind.ECHO)
    echo = Reply(probe_id=5, kind=ReplyKind.ECHO_REPLY, from_addr=V4)
    assert echo.reached
    assert Reply(probe_id=5, kind=ReplyKind.PORT_UNREACHABLE, from_addr=V4).reached
    too_big = Reply(probe_id=5, kind=ReplyKind.TOO_BIG, from_addr=None, mtu=1400)
    assert not too_big.reached
    with pytest.raises(UsageError):
        Reply(probe_id=5, kind=ReplyKind.TOO_BIG, from_addr=None, mtu=-1)
    rec = ProbeRecord(
        probe=probe, sent_at=1.0, reply=echo, replied_at=1.25, outcome=ProbeOutcome.REACHED
    )
    assert rec.rtt == pytest.approx(0.25)
    timed = Reply(probe_id=5, kind=ReplyKind.ECHO_REPLY, from_addr=V4, rtt=0.1)
    assert ProbeRecord(
        probe=probe, sent_at=1.0, reply=timed, replied_at=2.0, outcome=ProbeOutcome.REACHED
    ).rtt == pytest.approx(0.1)
    lost = ProbeRecord(
        probe=probe, sent_at=1.0, reply=None, replied_at=None, outcome=ProbeOutcome.LOST
    )
    assert lost.rtt is None
