"""Tests for mtuscope.calc.stack: published MTU/MSS figures and exact ESP padding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.calc import ciphers
from mtuscope.calc.layer_specs import parse_layer
from mtuscope.calc.layer_types import LAYER_TYPES
from mtuscope.calc.stack import compute, parse_layers
from mtuscope.errors import UsageError

# (layer specs, link MTU, inner family, expected IP MTU, expected IPv4 MSS, source)
PUBLISHED = [
    # Cisco, "Resolve IPv4 Fragmentation, MTU, MSS, and PMTUD Issues with GRE and IPsec":
    # GRE over a 1500-byte link -> ip mtu 1476, ip tcp adjust-mss 1436 (RFC 2784 §2).
    (["gre"], 1500, 4, 1476, 1436, "Cisco GRE/IPsec fragmentation guide; RFC 2784"),
    # RFC 2516 §7: "the maximum-Receive-Unit (MRU) option MUST NOT be negotiated to a
    # size larger than 1492"; Cisco PPPoE client guide: ip tcp adjust-mss 1452.
    (["pppoe"], 1500, 4, 1492, 1452, "RFC 2516 §7"),
    # RFC 7348 §4.3 / Linux VXLAN_HEADROOM: VXLAN over IPv4 on 1500 -> 1450; IPv6 -> 1430.
    (["vxlan"], 1500, 4, 1450, 1410, "Linux drivers/net/vxlan VXLAN_HEADROOM 50"),
    (["vxlan:ipv6"], 1500, 4, 1430, 1390, "Linux VXLAN6_HEADROOM 70"),
    # Linux geneve: GENEVE_IPV4_HLEN = ETH_HLEN + 20 + 8 + 8 -> default MTU 1450.
    (["geneve"], 1500, 4, 1450, 1410, "Linux drivers/net/geneve.c GENEVE_IPV4_HLEN"),
    # WireGuard whitepaper §5.4.6: 32 bytes + UDP 8 + IP 20/40 -> 1440 over IPv4, 1420 over
    # IPv6; the Linux driver's default MTU is 1420 (drivers/net/wireguard/device.c).
    (["wireguard"], 1500, 4, 1440, 1400, "WireGuard whitepaper §5.4.6"),
    (["wireguard:ipv6"], 1500, 4, 1420, 1380, "Linux wireguard default MTU 1420"),
    # Linux sit/ipip default MTU 1480 (RFC 4213 §3.2, RFC 2003).
    (["6in4"], 1500, 6, 1480, 1440, "RFC 4213 §3.2; Linux sit default MTU 1480"),
    (["ipip"], 1500, 4, 1480, 1440, "RFC 2003 §3.1; Linux ipip default MTU 1480"),
    # Linux ip6_tunnel default MTU 1452 (40 + 8-byte encapsulation limit option, RFC 2473 §5.1).
    (["ip6tnl"], 1500, 6, 1452, 1412, "Linux net/ipv6/ip6_tunnel.c default MTU"),
    # RFC 3032 §2.1: 4 bytes per label; an L3VPN (2 labels) on 1500 carries 1492.
    (["mpls:2"], 1500, 4, 1492, 1452, "RFC 3032 §2.1"),
    # 3GPP TS 29.281 §5.1: GTP-U/UDP/IPv4 = 36 bytes -> 1464.
    (["gtpu"], 1500, 4, 1464, 1424, "3GPP TS 29.281 §5.1"),
    # Linux net/l2tp/l2tp_ppp.c PPPOL2TP_HEADER_OVERHEAD 40 -> default session MTU 1460.
    (["l2tpv2:length"], 1500, 4, 1460, 1420, "Linux l2tp_ppp.c PPPOL2TP_HEADER_OVERHEAD"),
    # RFC 8754 §2 + RFC 8986 §5.1: outer IPv6 40 + SRH 8 + 16 per SID.
    (["srv6:1"], 1500, 6, 1436, 1396, "RFC 8754 §2"),
    (["srv6:3:red"], 1500, 6, 1420, 1380, "RFC 8986 §5.2 H.Encaps.Red"),
    # OpenVPN AEAD data channel over UDP/IPv4: 20 + 8 + 4 opcode/peer-id + 4 packet ID
    # + 16 tag = 52 (OpenVPN security overview, data channel; src/openvpn/crypto.h).
    (["openvpn:aes-256-gcm"], 1500, 4, 1448, 1408, "OpenVPN data channel v2 format"),
    # Jumbo link: VXLAN on a 9000-byte underlay leaves 8950 (VMware NSX guidance).
    (["vxlan"], 9000, 4, 8950, 8910, "VMware NSX: 50 bytes VXLAN overhead"),
]


@pytest.mark.parametrize(("specs", "link", "inner", "mtu", "mss", "source"), PUBLISHED)
def test_published_values(
    specs: list[str], link: int, inner: int, mtu: int, mss: int, source: str
) -> None:
    result = compute(link, parse_layers(specs), inner_family=inner)
    assert result.ip_mtu == mtu, source
    assert result.mss_ipv4 == mss, source
    assert result.mss_ipv6 == mtu - 60
    assert result.overhead == link - mtu


def test_issue_example_stack() -> None:
    # pppoe 1492; ESP tunnel AES-GCM-16: 1492 - 20 - 8 - 8 - 16 = 1440 aligned to 4,
    # less the 2-byte trailer = 1438; GRE 24 -> 1414.
    result = compute(1500, parse_layers(["pppoe", "ipsec-tunnel:aes-gcm-128", "gre"]))
    assert [r.mtu_after for r in result.layers] == [1492, 1438, 1414]
    assert [r.bytes for r in result.layers] == [8, 54, 24]
    assert (result.ip_mtu, result.mss_ipv4, result.mss_ipv6) == (1414, 1374, 1354)


def test_aes_cbc_alignment_is_exact() -> None:
    # 1500 - 20 - 8 - 16 IV - 12 ICV = 1444 bytes for ciphertext; the largest multiple
    # of 16 is 1440, less pad length and next header = 1438 (4 bytes lost to alignment).
    result = compute(1500, parse_layers(["ipsec-tunnel:aes-cbc-sha1"]))
    assert result.ip_mtu == 1438
    assert result.layers[0].alignment_loss == 4
    natt = compute(1500, parse_layers(["ipsec-tunnel:aes-cbc-sha1:natt"]))
    assert natt.ip_mtu == 1422  # 1436 -> 1424 aligned -> 1422


def _esp_packet_size(payload: int, t: ciphers.EspTransform, ip: int, natt: bool) -> int:
    """Build the ESP packet length field by field, as RFC 4303 §2 lays it out."""
    align = max(t.block, 4)
    pad = (-(payload + 2)) % align  # §2.4: pad so pad length + next header end aligned
    assert 0 <= pad <= 255
    return ip + (8 if natt else 0) + 4 + 4 + t.iv + payload + pad + 1 + 1 + t.icv


@pytest.mark.parametrize("name", sorted(ciphers.ESP_TRANSFORMS))
@pytest.mark.parametrize("natt", [False, True])
@pytest.mark.parametrize("outer", [4, 6])
def test_esp_tunnel_payload_is_largest_that_fits(name: str, natt: bool, outer: int) -> None:
    t = ciphers.ESP_TRANSFORMS[name]
    spec = f"ipsec-tunnel:{name}" + (":natt" if natt else "") + f":ipv{outer}"
    layers = parse_layers([spec])
    ip = 20 if outer == 4 else 40
    for link in range(1280, 1601):
        best = compute(link, layers).ip_mtu
        assert _esp_packet_size(best, t, ip, natt) <= link
        assert _esp_packet_size(best + 1, t, ip, natt) > link
        # brute force: nothing larger than `best` fits, scanning every size above it
        assert all(_esp_packet_size(p, t, ip, natt) > link for p in range(best + 1, link))


@pytest.mark.parametrize("name", sorted(ciphers.ESP_TRANSFORMS))
def test_esp_transport_keeps_the_ip_header(name: str) -> None:
    t = ciphers.ESP_TRANSFORMS[name]
    for link in range(1360, 1521):
        for fam, ip in ((4, 20), (6, 40)):
            mtu = compute(link, parse_layers([f"ipsec-transport:{name}"]), inner_family=fam).ip_mtu
            # transport mode: inner packet = IP header + L4; ESP wraps only the L4 part
            assert _esp_packet_size(mtu - ip, t, ip, False) <= link
            assert _esp_packet_size(mtu - ip + 1, t, ip, False) > link


def test_transport_mode_takes_the_family_of_the_gre_delivery_header() -> None:
    # GRE over IPsec transport: ESP protects the GRE packet, whose IPv6 header is kept.
    v6 = compute(1500, parse_layers(["ipsec-transport:aes-gcm-16", "gre:ipv6"]))
    t = ciphers.ESP_TRANSFORMS["aes-gcm-16"]
    gre_packet = v6.layers[0].mtu_after
    assert _esp_packet_size(gre_packet - 40, t, 40, False) <= 1500
    assert _esp_packet_size(gre_packet - 40 + 1, t, 40, False) > 1500
    assert v6.ip_mtu == gre_packet - 40 - 4


def test_openvpn_cbc_padding_is_exact() -> None:
    # CBC: 20 IP + 8 UDP + 4 opcode + 20 HMAC-SHA1 + 16 IV, then 16-byte blocks holding
    # packet ID (4) + payload + PKCS#7 padding (1..16).
    layer = parse_layer("openvpn:aes-256-cbc")
    for link in range(1200, 1501):
        p = compute(link, [layer]).ip_mtu

        def size(n: int) -> int:
            return 20 + 8 + 4 + 20 + 16 + (4 + n) + (16 - (4 + n) % 16)

        assert size(p) <= link < size(p + 1)


def test_vlan_tag_grows_the_frame_on_the_link_but_costs_mtu_inside_vxlan() -> None:
    r = compute(1500, parse_layers(["dot1q", "vxlan", "dot1q"]))
    assert r.layers[0].adds_to == "frame" and r.layers[0].mtu_after == 1500
    assert r.frame_size == 1500 + 14 + 4  # IEEE 802.1Q: 1518 -> 1522 with the tag
    assert r.layers[2].adds_to == "packet" and r.ip_mtu == 1446
    assert compute(1500, parse_layers(["qinq"])).frame_size == 1500 + 14 + 8


def test_ah_aligns_to_8_bytes_over_ipv6() -> None:
    # RFC 4302 §2: 12 + 16 (SHA256-128) = 28, aligned to 32 over IPv6, 28 over IPv4.
    assert compute(1500, parse_layers(["ah:sha256"]), inner_family=4).ip_mtu == 1472
    assert compute(1500, parse_layers(["ah:sha256"]), inner_family=6).ip_mtu == 1468


def test_timestamps_reduce_data_not_mss() -> None:
    r = compute(1500, (), tcp_timestamps=True)
    assert (r.mss_ipv4, r.payload_ipv4, r.mss_ipv6, r.payload_ipv6) == (1460, 1448, 1440, 1428)
    assert r.mss == 1460


def test_ipv6_impossible_below_1280() -> None:
    r = compute(1300, parse_layers(["gre"]))
    assert r.ip_mtu == 1276 and r.mss_ipv6 is None and r.payload_ipv6 is None
    with pytest.raises(UsageError, match="IPv6 minimum of 1280"):
        compute(1300, parse_layers(["gre"]), inner_family=6)


def test_ipv6_delivery_needs_a_1280_link() -> None:
    with pytest.raises(UsageError, match="at least 1280"):
        compute(1200, parse_layers(["vxlan:ipv6"]))


@pytest.mark.parametrize("link", [-1, 0, 67, 65536, 10**9])
def test_absurd_link_mtu(link: int) -> None:
    with pytest.raises(UsageError, match="out of range"):
        compute(link, ())


def test_stack_that_leaves_nothing() -> None:
    with pytest.raises(UsageError, match="nothing fits inside mpls:16.*known layers"):
        compute(100, parse_layers(["mpls:16"]))
    with pytest.raises(UsageError, match="srv6:5 needs an IPv6 link of at least 1280"):
        compute(1000, parse_layers(["srv6:5"]))
    assert compute(1500, parse_layers(["srv6:80"])).ip_mtu == 1500 - 40 - 8 - 16 * 80
    with pytest.raises(UsageError, match="IPv6 minimum of 1280"):
        compute(1500, parse_layers(["srv6:80"]), inner_family=6)


def test_bad_families() -> None:
    with pytest.raises(UsageError):
        compute(1500, (), inner_family=5)
    with pytest.raises(UsageError):
        parse_layers(["gre"], outer_family=5)


def test_parse_layers_splits_words() -> None:
    assert [x.name for x in parse_layers(["pppoe gre:key,vxlan"])] == ["pppoe", "gre:key", "vxlan"]
    assert [x.name for x in parse_layers("gre")] == ["gre"]


_SIMPLE = [n for n in LAYER_TYPES if n not in ("dot1q", "qinq")]


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.sampled_from(_SIMPLE), min_size=0, max_size=3),
    link=st.integers(min_value=1280, max_value=9000),
)
def test_more_link_mtu_never_gives_less(names: list[str], link: int) -> None:
    layers = parse_layers(names)
    try:
        small = compute(link, layers)
    except UsageError:
        return
    big = compute(link + 1, layers)
    assert small.ip_mtu <= big.ip_mtu <= small.ip_mtu + 1 + 32  # at most one cipher block
    assert sum(r.bytes for r in small.layers) == small.overhead
    for r, layer in zip(small.layers, layers, strict=True):
        assert r.bytes >= 0 and r.alignment_loss < max(layer.align, 1) + 8
