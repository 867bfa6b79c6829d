"""The table of known encapsulation layers: their sizes, options and sources.

Layer: calc/. Constant data and the small builders that turn parsed options into
a `Layer`; no I/O. Every size cites its RFC section or vendor documentation in
the layer's `reference`, which reports show next to the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mtuscope.calc import ciphers
from mtuscope.calc.layers import ETHERNET_HEADER, IpHeader, Layer
from mtuscope.errors import UsageError
from mtuscope.wire.udp import UDP_HEADER


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerOptions:
    """The options of one layer spec, as the parser found them."""

    flags: frozenset[str]
    number: int | None
    choice: str | None
    family: int


_Builder = Callable[[LayerOptions], Layer]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerType:
    """A kind of layer the parser knows, with the options it takes."""

    name: str
    summary: str
    build: _Builder
    flags: tuple[str, ...] = ()
    number: tuple[str, int, int, int] | None = None
    """(meaning, lowest, highest, default) of a bare-integer option."""
    choices: tuple[str, ...] = ()
    """Named choices (ciphers, algorithms); the first is the default."""
    family_option: bool = False
    """Takes ipv4/ipv6 for its delivery header."""


def _fam(family: int) -> str:
    return f"IPv{family}"


def _tag(o: LayerOptions, size: int, label: str, ref: str, name: str) -> Layer:
    return Layer(name=name, label=label, header=size, frame_only=True, reference=ref)


def _mpls(o: LayerOptions) -> Layer:
    n = o.number or 1
    return Layer(
        name=f"mpls:{n}",
        label=f"MPLS, {n} label{'s' if n > 1 else ''}",
        header=4 * n,
        reference="RFC 3032 §2.1 (4-byte label stack entry), §3 (labelled packet MTU)",
    )


def _pppoe(o: LayerOptions) -> Layer:
    return Layer(
        name="pppoe",
        label="PPPoE",
        header=8,
        reference="RFC 2516 §7 (6-byte PPPoE header + 2-byte PPP protocol: MRU 1492)",
    )


def _gre(o: LayerOptions) -> Layer:
    parts = [f for f in ("key", "seq", "csum", "eth") if f in o.flags]
    header = (
        4 + 4 * len([p for p in parts if p != "eth"]) + (ETHERNET_HEADER if "eth" in parts else 0)
    )
    words = {"key": "key", "seq": "sequence", "csum": "checksum", "eth": "Ethernet payload"}
    extra = f" with {', '.join(words[p] for p in parts)}" if parts else ""
    return Layer(
        name=":".join(["gre", *parts, *(["ipv6"] if o.family == 6 else [])]),
        label=f"GRE{extra} over {_fam(o.family)}",
        header=header,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="RFC 2784 §2 (4-byte header; checksum +4); RFC 2890 §2 (key +4, sequence +4)"
        + (
            "; transparent Ethernet bridging (Linux gretap): +14 inner Ethernet"
            if "eth" in parts
            else ""
        ),
    )


def _ip_in_ip(name: str, outer: int, label: str, ref: str) -> _Builder:
    def build(o: LayerOptions) -> Layer:
        limit = "encaplimit" in o.flags
        return Layer(
            name=f"{name}:encaplimit" if limit else name,
            label=label + (" with encapsulation limit option" if limit else ""),
            header=8 if limit else 0,
            ip_header=IpHeader.OWN,
            family=outer,
            reference=ref
            + ("; RFC 2473 §5.1 (tunnel encapsulation limit: 8 bytes)" if limit else ""),
        )

    return build


def _vxlan(o: LayerOptions) -> Layer:
    vlan = "vlan" in o.flags
    return Layer(
        name="vxlan" + (":vlan" if vlan else "") + (":ipv6" if o.family == 6 else ""),
        label=f"VXLAN over {_fam(o.family)}" + (" (tagged inner frames)" if vlan else ""),
        header=UDP_HEADER + 8 + ETHERNET_HEADER + (4 if vlan else 0),
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="RFC 7348 §5 (UDP 8 + VXLAN 8 + inner Ethernet 14); Linux vxlan "
        "VXLAN_HEADROOM 50 / VXLAN6_HEADROOM 70",
    )


def _geneve(o: LayerOptions) -> Layer:
    opt = o.number or 0
    if opt % 4:
        raise UsageError(f"layer 'geneve:{opt}': option bytes come in 4-byte units (RFC 8926 §3.4)")
    return Layer(
        name="geneve" + (f":{opt}" if opt else "") + (":ipv6" if o.family == 6 else ""),
        label=f"Geneve over {_fam(o.family)}" + (f" with {opt} option bytes" if opt else ""),
        header=UDP_HEADER + 8 + opt + ETHERNET_HEADER,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="RFC 8926 §3.4 (8-byte header + options, 4-byte units, at most 252) "
        "+ UDP 8 + inner Ethernet 14",
    )


def _gtpu(o: LayerOptions) -> Layer:
    five_g = "5g" in o.flags
    seq = "seq" in o.flags or five_g
    # The 4 optional bytes (sequence, N-PDU, next extension type) are present when any
    # of E, S, PN is set; 5G user plane adds a 4-byte PDU Session Container extension.
    gtp = 8 + (4 if seq else 0) + (4 if five_g else 0)
    return Layer(
        name="gtpu"
        + (":5g" if five_g else ":seq" if seq else "")
        + (":ipv6" if o.family == 6 else ""),
        label=f"GTP-U over {_fam(o.family)}" + (" (5G, PDU session container)" if five_g else ""),
        header=UDP_HEADER + gtp,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="3GPP TS 29.281 §5.1 (8-byte header, +4 optional fields), §5.2.2.7 (PDU "
        "Session Container extension header); 3GPP TS 38.415 §5.5.2 (basic form, 4 bytes)",
    )


def _l2tpv2(o: LayerOptions) -> Layer:
    length, seq = "length" in o.flags, "seq" in o.flags
    l2tp = 6 + (2 if length else 0) + (4 if seq else 0)
    return Layer(
        name="l2tpv2"
        + (":length" if length else "")
        + (":seq" if seq else "")
        + (":ipv6" if o.family == 6 else ""),
        label=f"L2TPv2 (PPP) over UDP/{_fam(o.family)}",
        header=UDP_HEADER + l2tp + 4,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="RFC 2661 §3.1 (6-byte data header; Length +2, Ns/Nr +4); RFC 1662 §3.1 "
        "(PPP address/control 2 + protocol 2); Linux pppol2tp assumes 40 in all",
    )


def _l2tpv3(o: LayerOptions) -> Layer:
    cookie = o.number or 0
    if cookie not in (0, 4, 8):
        raise UsageError(f"layer 'l2tpv3:{cookie}': the cookie is 0, 4 or 8 bytes (RFC 3931 §4.1)")
    udp, l2ss = "udp" in o.flags, "l2ss" in o.flags
    header = (UDP_HEADER + 4 if udp else 0) + 4 + cookie + (4 if l2ss else 0) + ETHERNET_HEADER
    opts = [
        *(["udp"] if udp else []),
        *(["l2ss"] if l2ss else []),
        *([str(cookie)] if cookie else []),
    ]
    return Layer(
        name=":".join(["l2tpv3", *opts, *(["ipv6"] if o.family == 6 else [])]),
        label=f"L2TPv3 Ethernet pseudowire over {'UDP/' if udp else ''}{_fam(o.family)}",
        header=header,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="RFC 3931 §4.1.1.1 (over IP: 4-byte session ID + 0/4/8-byte cookie), "
        "§4.1.2.1 (over UDP: +4 header +8 UDP), §4.6 (L2-specific sublayer 4); "
        "RFC 4719 §2 (Ethernet frame without FCS, 14)",
    )


def _wireguard(o: LayerOptions) -> Layer:
    return Layer(
        name="wireguard" + (":ipv6" if o.family == 6 else ""),
        label=f"WireGuard over {_fam(o.family)}",
        # Padding to 16 bytes is capped at the interface MTU, so the largest
        # packet is never padded beyond it: the overhead is fixed.
        header=UDP_HEADER + 16 + 16,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="WireGuard whitepaper §5.4.6 (type/reserved 4 + receiver 4 + counter 8, "
        "Poly1305 tag 16; padding capped at the MTU) + UDP 8; Linux wireguard default MTU 1420",
    )


def _openvpn(o: LayerOptions) -> Layer:
    cipher = ciphers.OPENVPN_CIPHERS[o.choice or "aes-256-gcm"]
    opcode = ciphers.OPENVPN_OPCODE_V1 if "v1" in o.flags else ciphers.OPENVPN_OPCODE_V2
    tap, comp = "tap" in o.flags, "comp" in o.flags
    # The plaintext carries an Ethernet header in tap mode and a compression
    # framing byte with --compress/--comp-lzo: both sit inside the cipher's padding.
    plain = (ETHERNET_HEADER if tap else 0) + (1 if comp else 0)
    auth = next((a for a in ("sha256", "sha512") if a in o.flags), "sha1")
    if cipher.aead:
        header = opcode + ciphers.OPENVPN_PACKET_ID + ciphers.OPENVPN_AEAD_TAG
        inner, align = plain, 1
    else:
        header = opcode + ciphers.OPENVPN_HMAC[auth] + cipher.iv
        # CBC plaintext: packet ID + payload + PKCS#7 padding of at least one byte.
        inner, align = ciphers.OPENVPN_PACKET_ID + plain + 1, cipher.block
    flags: list[str] = [f for f in ("tap", "comp", "v1") if f in o.flags]
    if not cipher.aead and auth != "sha1":
        flags.append(auth)
    return Layer(
        name=":".join(["openvpn", cipher.name, *flags, *(["ipv6"] if o.family == 6 else [])]),
        label=f"OpenVPN {cipher.name.upper()}{' tap' if tap else ''} over UDP/{_fam(o.family)}",
        header=UDP_HEADER + header,
        inner=inner,
        align=align,
        ip_header=IpHeader.OWN,
        family=o.family,
        reference="OpenVPN data channel (openvpn.net security overview; src/openvpn/crypto.h): "
        "P_DATA_V2 4-byte opcode/peer-id, packet ID 4, AEAD tag 16 or HMAC + IV + CBC padding",
    )


def _ipsec(mode: str) -> _Builder:
    def build(o: LayerOptions) -> Layer:
        t = ciphers.esp_transform(o.choice or ciphers.DEFAULT_ESP)
        assert t is not None  # the parser only passes known choices
        natt = "natt" in o.flags
        fam = o.family if mode == "tunnel" or "explicit-family" in o.flags else None
        return Layer(
            name=f"ipsec-{mode}:{t.name}"
            + (":natt" if natt else "")
            + (":ipv6" if fam == 6 else ":ipv4" if fam == 4 and mode == "transport" else ""),
            label=f"IPsec ESP {mode} mode, {t.label}"
            + (", NAT-T" if natt else "")
            + (f" over {_fam(fam)}" if fam else ""),
            header=(ciphers.NAT_T_UDP if natt else 0) + ciphers.ESP_SPI_SEQ + t.iv + t.icv,
            inner=ciphers.ESP_TRAILER,
            align=max(t.block, 4),
            ip_header=IpHeader.OWN if mode == "tunnel" else IpHeader.KEPT,
            family=fam,
            reference=f"RFC 4303 §2 (SPI 4 + sequence 4, pad length 1 + next header 1, "
            f"§2.4 padding); {t.reference}" + ("; RFC 3948 §2.1 (NAT-T UDP 8)" if natt else ""),
        )

    return build


def _ah(o: LayerOptions) -> Layer:
    alg = o.choice or "sha1"
    tunnel = "tunnel" in o.flags
    size = ciphers.AH_BASE + ciphers.AH_ICV[alg]
    fam = o.family if tunnel or "explicit-family" in o.flags else None
    return Layer(
        name=f"ah:{alg}" + (":tunnel" if tunnel else "") + (":ipv6" if fam == 6 else ""),
        label=f"IPsec AH {'tunnel' if tunnel else 'transport'} mode, HMAC-{alg.upper()}",
        header=-(-size // 4) * 4,
        header6_extra=-(-size // 8) * 8 - (-(-size // 4) * 4),
        ip_header=IpHeader.OWN if tunnel else IpHeader.KEPT,
        family=fam,
        reference="RFC 4302 §2, §2.6 (12 bytes + ICV, padded to 4-byte alignment over IPv4, "
        "8-byte over IPv6); "
        "RFC 2404 §2, RFC 4868 §2.3 (ICV sizes)",
    )


def _srv6(o: LayerOptions) -> Layer:
    n = o.number or 1
    red, l2 = "red" in o.flags, "l2" in o.flags
    # H.Encaps.Red leaves the first SID out of the SRH, and no SRH at all for one SID.
    sids = n - 1 if red else n
    srh = 8 + 16 * sids if sids else 0
    return Layer(
        name=f"srv6:{n}" + (":red" if red else "") + (":l2" if l2 else ""),
        label=f"SRv6 {'H.Encaps.Red' if red else 'H.Encaps'}, {n} segment{'s' if n > 1 else ''}"
        + (" (L2)" if l2 else ""),
        header=srh + (ETHERNET_HEADER if l2 else 0),
        ip_header=IpHeader.OWN,
        family=6,
        reference="RFC 8754 §2 (SRH 8 bytes + 16 per segment); RFC 8986 §5.1 H.Encaps, "
        "§5.2 H.Encaps.Red, §5.3 H.Encaps.L2",
    )


_V4 = "RFC 791 §3.1 outer IPv4 header 20"
_V6 = "RFC 8200 §3 outer IPv6 header 40"

LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in (
        LayerType(
            name="dot1q",
            summary="802.1Q VLAN tag (4; grows the frame on the physical link)",
            build=lambda o: _tag(
                o, 4, "802.1Q VLAN tag", "IEEE 802.1Q-2018 §9 (4-byte tag)", "dot1q"
            ),
        ),
        LayerType(
            name="qinq",
            summary="802.1ad QinQ, two tags (8; grows the frame on the physical link)",
            build=lambda o: _tag(
                o, 8, "QinQ (802.1ad) double tag", "IEEE 802.1Q-2018 §9 (S-tag 4 + C-tag 4)", "qinq"
            ),
        ),
        LayerType(
            name="mpls",
            summary="MPLS label stack (4 per label)",
            build=_mpls,
            number=("labels", 1, 16, 1),
        ),
        LayerType(name="pppoe", summary="PPPoE session (8)", build=_pppoe),
        LayerType(
            name="gre",
            summary="GRE (4, +4 key, +4 seq, +4 csum, +14 eth)",
            build=_gre,
            flags=("key", "seq", "csum", "eth"),
            family_option=True,
        ),
        LayerType(
            name="ipip",
            summary="IPv4 in IPv4 (20)",
            build=_ip_in_ip("ipip", 4, "IPv4 in IPv4", f"RFC 2003 §3.1; {_V4}"),
        ),
        LayerType(
            name="6in4",
            summary="IPv6 in IPv4, protocol 41 (20)",
            build=_ip_in_ip("6in4", 4, "6in4 (IPv6 in IPv4)", f"RFC 4213 §3.5; {_V4}"),
        ),
        LayerType(
            name="4in6",
            summary="IPv4 in IPv6 (40, +8 encaplimit)",
            build=_ip_in_ip("4in6", 6, "4in6 (IPv4 in IPv6)", f"RFC 2473 §3; {_V6}"),
            flags=("encaplimit",),
        ),
        LayerType(
            name="ip6ip6",
            summary="IPv6 in IPv6 (40, +8 encaplimit)",
            build=_ip_in_ip("ip6ip6", 6, "IPv6 in IPv6", f"RFC 2473 §3; {_V6}"),
            flags=("encaplimit",),
        ),
        LayerType(
            name="vxlan",
            summary="VXLAN (50 over IPv4, 70 over IPv6; +4 vlan)",
            build=_vxlan,
            flags=("vlan",),
            family_option=True,
        ),
        LayerType(
            name="geneve",
            summary="Geneve (50/70 + option bytes)",
            build=_geneve,
            number=("option bytes", 0, 252, 0),
            family_option=True,
        ),
        LayerType(
            name="gtpu",
            summary="GTP-U (36 over IPv4; +4 seq; 5g +8)",
            build=_gtpu,
            flags=("seq", "5g"),
            family_option=True,
        ),
        LayerType(
            name="l2tpv2",
            summary="L2TPv2 carrying PPP over UDP (38 over IPv4; +2 length, +4 seq)",
            build=_l2tpv2,
            flags=("length", "seq"),
            family_option=True,
        ),
        LayerType(
            name="l2tpv3",
            summary="L2TPv3 Ethernet pseudowire (38 over IP; udp, l2ss, cookie 4/8)",
            build=_l2tpv3,
            flags=("udp", "l2ss"),
            number=("cookie bytes", 0, 8, 0),
            family_option=True,
        ),
        LayerType(
            name="wireguard",
            summary="WireGuard (60 over IPv4, 80 over IPv6)",
            build=_wireguard,
            family_option=True,
        ),
        LayerType(
            name="openvpn",
            summary="OpenVPN over UDP (cipher; tap, comp, v1, sha256/sha512 for CBC)",
            build=_openvpn,
            flags=("tap", "comp", "v1", "sha256", "sha512"),
            choices=tuple(ciphers.OPENVPN_CIPHERS),
            family_option=True,
        ),
        LayerType(
            name="ipsec-tunnel",
            summary="IPsec ESP tunnel mode (cipher; natt)",
            build=_ipsec("tunnel"),
            flags=("natt",),
            choices=(ciphers.DEFAULT_ESP, *ciphers.ESP_TRANSFORMS),
            family_option=True,
        ),
        LayerType(
            name="ipsec-transport",
            summary="IPsec ESP transport mode (cipher; natt)",
            build=_ipsec("transport"),
            flags=("natt",),
            choices=(ciphers.DEFAULT_ESP, *ciphers.ESP_TRANSFORMS),
            family_option=True,
        ),
        LayerType(
            name="ah",
            summary="IPsec AH (transport; tunnel; sha1/sha256/sha384/sha512)",
            build=_ah,
            flags=("tunnel",),
            choices=tuple(ciphers.AH_ICV),
            family_option=True,
        ),
        LayerType(
            name="srv6",
            summary="SRv6 encapsulation with N segments (red, l2)",
            build=_srv6,
            flags=("red", "l2"),
            number=("segments", 1, 127, 1),
        ),
    )
}
"""Every layer the parser knows, by canonical name."""

ALIASES: Mapping[str, str] = {
    "vlan": "dot1q",
    "802.1q": "dot1q",
    "802.1ad": "qinq",
    "gretap": "gre:eth",
    "ip6gre": "gre:ipv6",
    "nvgre": "gre:key:eth",  # RFC 7637 §3.2: NVGRE carries the VSID in the GRE key
    "sit": "6in4",
    "ip6tnl": "ip6ip6:encaplimit",  # Linux ip6tnl sends the encapsulation limit by default
    "gtp-u": "gtpu",
    "l2tp": "l2tpv2",
    "wg": "wireguard",
    "esp": "ipsec-tunnel",
    "ipsec": "ipsec-tunnel",
    "srv6-red": "srv6:red",
}
"""Other names people use, mapped to a canonical spec."""
