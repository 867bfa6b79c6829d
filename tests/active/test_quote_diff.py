"""active/quote_diff.py: a quote against the packet sent, field by field."""

from __future__ import annotations

from ipaddress import IPv4Address

from mtuscope.active.quote_diff import MSS_FIELD, diff_quote, packet_fields
from mtuscope.wire.builders import build_tcp


def test_diff_quote_on_an_empty_or_foreign_quote_compares_nothing() -> None:
    sent = build_tcp(
        src=IPv4Address("192.0.2.1"), dst=IPv4Address("192.0.2.9"), sport=1, dport=2, mss=1460
    )
    assert diff_quote(sent, b"").compared == ()
    assert diff_quote(sent, b"\x99" * 30).too_short
    fields = packet_fields(sent)
    assert fields[MSS_FIELD] == 1460 and fields["ip.flags.df"] == 1
