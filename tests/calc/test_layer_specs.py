"""Tests for mtuscope.calc.layer_specs and the table in layer_types: specs, options, aliases."""

from __future__ import annotations

import pytest

from mtuscope.calc.layer_specs import known_layers, parse_layer
from mtuscope.calc.layer_types import ALIASES, LAYER_TYPES
from mtuscope.calc.layers import IpHeader
from mtuscope.errors import UsageError


@pytest.mark.parametrize(
    ("spec", "name", "overhead_over_ipv4_1500"),
    [
        ("gre", "gre", 24),  # RFC 2784 §2
        ("gre:key", "gre:key", 28),  # RFC 2890 §2.1
        ("gre:seq:key", "gre:key:seq", 32),
        ("gre:key:seq:csum", "gre:key:seq:csum", 36),
        ("gretap", "gre:eth", 38),
        ("nvgre", "gre:key:eth", 42),  # RFC 7637 §3.2 (GRE with key + inner Ethernet)
        ("GRE:IPv6", "gre:ipv6", 44),
        ("vxlan:vlan", "vxlan:vlan", 54),
        ("geneve:8", "geneve:8", 58),
        ("gtpu:5g", "gtpu:5g", 44),
        ("gtpu:seq", "gtpu:seq", 40),
        ("l2tpv3", "l2tpv3", 38),  # RFC 3931 over IP: 20 + 4 session + 14 Ethernet
        ("l2tpv3:udp:8", "l2tpv3:udp:8", 58),
        ("l2tpv3:l2ss:4", "l2tpv3:l2ss:4", 46),
        ("wg", "wireguard", 60),
        ("openvpn:aes-256-gcm:tap", "openvpn:aes-256-gcm:tap", 66),
        ("openvpn:chacha20-poly1305:v1", "openvpn:chacha20-poly1305:v1", 49),
        # ESP tunnel (RFC 4303 §2): IP 20 + SPI/seq 8 + IV + ICV, then 4-byte alignment of
        # payload + 2-byte trailer: GCM-16 leaves 1448 -> 1446, overhead 54.
        ("esp", "ipsec-tunnel:aes-gcm-16", 54),  # default transform: AES-GCM, 16-byte ICV
        ("ipsec-tunnel:aes128gcm8", "ipsec-tunnel:aes-gcm-8", 46),
        ("ipsec-tunnel:aes-gcm-12", "ipsec-tunnel:aes-gcm-12", 50),
        ("ipsec-tunnel:chacha20-poly1305", "ipsec-tunnel:chacha20-poly1305", 54),
        ("ipsec-tunnel:aes-cbc-sha256", "ipsec-tunnel:aes-cbc-sha256", 62),
        ("ah:tunnel", "ah:sha1:tunnel", 44),  # RFC 4302: 20 + 12 + 12
        ("mpls", "mpls:1", 4),
        ("srv6:2:l2", "srv6:2:l2", 40 + 8 + 32 + 14),
        ("4in6", "4in6", 40),
        ("ip6ip6:encaplimit", "ip6ip6:encaplimit", 48),
    ],
)
def test_parse_and_overhead(spec: str, name: str, overhead_over_ipv4_1500: int) -> None:
    layer = parse_layer(spec)
    assert layer.name == name
    assert 1500 - layer.max_payload(1500) - (20 if layer.ip_header is IpHeader.KEPT else 0) == (
        overhead_over_ipv4_1500
    )
    assert layer.reference  # every layer cites its source


def test_canonical_name_round_trips() -> None:
    for spec in [
        "gre:key:seq",
        "ipsec-transport:aes-cbc-sha1:natt:ipv6",
        "openvpn:aes-128-cbc:sha256",
    ]:
        layer = parse_layer(spec)
        assert parse_layer(layer.name) == layer


def test_outer_family_default_applies_to_tunnels_only() -> None:
    assert parse_layer("gre", outer_family=6).family == 6
    assert parse_layer("gre:ipv4", outer_family=6).family == 4
    assert parse_layer("srv6", outer_family=4).family == 6
    assert parse_layer("pppoe", outer_family=6).ip_header is IpHeader.NONE


def test_every_type_and_alias_parses() -> None:
    for name in [*LAYER_TYPES, *ALIASES]:
        assert parse_layer(name).reference


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo", "unknown layer 'foo'; known layers: dot1q"),
        ("", "empty layer spec"),
        ("gre:bogus", "unknown option 'bogus'; options of gre: key, seq, csum, eth, ipv4, ipv6"),
        ("mpls:0", "labels must be 1..16"),
        ("mpls:99", "labels must be 1..16"),
        ("geneve:6", "4-byte units"),
        ("l2tpv3:2", "cookie is 0, 4 or 8"),
        ("ipsec-tunnel:rot13", "unknown option 'rot13'"),
        ("pppoe:ipv6", "unknown option 'ipv6'"),
        ("srv6:-1", "unknown option '-1'"),
        ("esp:aes-cbc-sha1:aes-gcm-16", "two algorithms"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_layer(spec)


def test_known_layers_lists_all() -> None:
    text = known_layers()
    for name in ("pppoe", "vxlan", "wireguard", "ipsec-tunnel", "srv6", "wg", "gretap"):
        assert name in text.split(", ")


def test_impossible_layer_and_no_room() -> None:
    from mtuscope.calc.layers import Layer

    with pytest.raises(UsageError, match="impossible sizes"):
        Layer(name="x", label="x", header=-1, reference="-")
    assert parse_layer("srv6:100").max_payload(100) < 0


def test_wire_size_and_max_payload_agree() -> None:
    for name in ["ipsec-tunnel:aes-cbc-sha1", "openvpn:aes-256-cbc", "gre", "ah:sha256"]:
        layer = parse_layer(name)
        for fam in (4, 6):
            for mtu in range(200, 400):
                p = layer.max_payload(mtu, fam)
                assert layer.wire_size(p, fam) <= mtu < layer.wire_size(p + 1, fam)
