"""Fixed header layouts: declared in wire order, read and packed through one declaration."""

from __future__ import annotations

import pytest

from mtuscope.errors import Truncated, UsageError
from mtuscope.wire import (
    ICMP_HEADER,
    ICMP_LAYOUT,
    IPV4_LAYOUT,
    IPV4_MIN_HEADER,
    IPV6_EXTENSION_LAYOUT,
    IPV6_FRAGMENT_LAYOUT,
    IPV6_HEADER,
    IPV6_LAYOUT,
    TCP_LAYOUT,
    TCP_MIN_HEADER,
    UDP_HEADER,
    UDP_LAYOUT,
    Cursor,
    Layout,
)

LAYOUTS = (
    ICMP_LAYOUT,
    IPV4_LAYOUT,
    IPV6_EXTENSION_LAYOUT,
    IPV6_FRAGMENT_LAYOUT,
    IPV6_LAYOUT,
    TCP_LAYOUT,
    UDP_LAYOUT,
)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_fields_follow_each_other_without_gaps(layout: Layout) -> None:
    at = 0
    for f in layout.fields:
        assert f.offset == at and f.width >= 1
        at = f.end
    assert at == layout.size
    assert layout.reference.startswith("RFC")


def test_sizes_are_the_named_header_sizes() -> None:
    assert IPV4_LAYOUT.size == IPV4_MIN_HEADER == 20
    assert IPV6_LAYOUT.size == IPV6_HEADER == 40
    assert TCP_LAYOUT.size == TCP_MIN_HEADER == 20
    assert UDP_LAYOUT.size == UDP_HEADER == 8
    assert ICMP_LAYOUT.size == ICMP_HEADER == 8
    assert IPV6_FRAGMENT_LAYOUT.size == 8


# The offsets as the RFCs draw them (RFC 791 §3.1, RFC 8200 §3 and §4.5,
# RFC 9293 §3.1, RFC 768, RFC 792), independently of the declarations.
@pytest.mark.parametrize(
    ("layout", "field", "offset"),
    [
        (IPV4_LAYOUT, "total_length", 2),
        (IPV4_LAYOUT, "flags_fragment", 6),
        (IPV4_LAYOUT, "ttl", 8),
        (IPV4_LAYOUT, "proto", 9),
        (IPV4_LAYOUT, "src", 12),
        (IPV4_LAYOUT, "dst", 16),
        (IPV6_LAYOUT, "payload_length", 4),
        (IPV6_LAYOUT, "next_header", 6),
        (IPV6_LAYOUT, "hop_limit", 7),
        (IPV6_LAYOUT, "src", 8),
        (IPV6_LAYOUT, "dst", 24),
        (IPV6_FRAGMENT_LAYOUT, "offset_flags", 2),
        (IPV6_FRAGMENT_LAYOUT, "ident", 4),
        (TCP_LAYOUT, "seq", 4),
        (TCP_LAYOUT, "ack", 8),
        (TCP_LAYOUT, "offset_flags", 12),
        (TCP_LAYOUT, "window", 14),
        (TCP_LAYOUT, "checksum", 16),
        (UDP_LAYOUT, "length", 4),
        (ICMP_LAYOUT, "checksum", 2),
        (ICMP_LAYOUT, "rest", 4),
    ],
)
def test_offsets_are_the_rfcs(layout: Layout, field: str, offset: int) -> None:
    assert layout.offset(field) == offset


def test_read_and_pack_round_trip() -> None:
    raw = UDP_LAYOUT.pack(sport=53, dport=40000, length=20, checksum=0xBEEF)
    assert bytes(raw) == bytes.fromhex("0035 9c40 0014 beef")
    cur = Cursor(bytes(raw) + b"data")
    assert dict(UDP_LAYOUT.read(cur)) == {
        "sport": 53,
        "dport": 40000,
        "length": 20,
        "checksum": 0xBEEF,
    }
    assert cur.offset == 8 and cur.rest() == b"data"


def test_read_past_the_end_names_the_cut_field() -> None:
    cur = Cursor(bytes(24), 4)  # 20 bytes left: the source address is cut
    with pytest.raises(Truncated, match="field src") as info:
        IPV6_LAYOUT.read(cur)
    assert info.value.offset == 4 + 8
    assert cur.offset == 4  # a failed read does not move the cursor


def test_pack_checks_names_and_widths() -> None:
    with pytest.raises(UsageError, match="missing"):
        UDP_LAYOUT.pack(sport=1, dport=2, length=8)
    with pytest.raises(UsageError, match="checksum 65536 out of range"):
        UDP_LAYOUT.pack(sport=1, dport=2, length=8, checksum=1 << 16)
    with pytest.raises(UsageError, match="no field"):
        UDP_LAYOUT.field("ttl")


def test_a_declaration_cannot_repeat_a_field() -> None:
    with pytest.raises(UsageError, match="twice"):
        Layout("bad", "RFC 0", ("a", 1), ("a", 2))
    with pytest.raises(UsageError, match="width"):
        Layout("bad", "RFC 0", ("a", 0))
    assert "8 bytes" in repr(UDP_LAYOUT)
