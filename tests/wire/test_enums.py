"""Tests for mtuscope.wire.enums: unknown code points become named placeholders."""

from __future__ import annotations

import pytest

from mtuscope.wire.enums import Icmp4Type, Icmp6Type, IpProto, LinkType, TcpOptionKind


def test_known_values_keep_their_names() -> None:
    assert str(TcpOptionKind(2)) == "MSS"
    assert IpProto(58) is IpProto.ICMPV6
    assert Icmp6Type(2) is Icmp6Type.PACKET_TOO_BIG


@pytest.mark.parametrize(
    ("enum", "value", "name"),
    [
        (TcpOptionKind, 200, "KIND200"),
        (IpProto, 143, "PROTO143"),
        (Icmp4Type, 99, "TYPE99"),
        (Icmp6Type, 250, "TYPE250"),
        (LinkType, 300, "LINKTYPE300"),
        (LinkType, 2, "LINKTYPE2"),
    ],
)
def test_unknown_values_become_placeholders(enum: type[IpProto], value: int, name: str) -> None:
    member = enum(value)
    assert str(member) == name
    assert member.name == name
    assert member == value
    assert isinstance(member, enum)


def test_values_outside_one_byte_are_refused() -> None:
    with pytest.raises(ValueError):
        TcpOptionKind(256)
    with pytest.raises(ValueError):
        IpProto(-1)


def test_link_types_are_two_bytes_wide() -> None:
    assert LinkType(1) is LinkType.ETHERNET and str(LinkType(276)) == "LINUX_SLL2"
    assert LinkType(0xFFFE) == 0xFFFE
    with pytest.raises(ValueError):
        LinkType(0x10000)
