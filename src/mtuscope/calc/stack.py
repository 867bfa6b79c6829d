"""A stack of encapsulation layers over a link: the MTU after each one, and the TCP MSS.

Layer: calc/. Pure arithmetic over `layers.Layer`; no I/O. The link MTU is the
IP MTU of the physical link (1500 on Ethernet); layers are given outer to inner,
the way they sit on the wire. The result is the IP MTU left for the inner
packet and the MSS that fits it (RFC 9293 §3.7.1: MSS = MTU - IP header - 20).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtuscope.calc.layer_specs import known_layers, parse_layer
from mtuscope.calc.layers import ETHERNET_HEADER, IpHeader, Layer, ip_header_bytes
from mtuscope.errors import UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET as MAX_MTU
from mtuscope.wire.sizes import MIN_MTU
from mtuscope.wire.tcp import TCP_MIN_HEADER
from mtuscope.wire.tcp_options import TIMESTAMPS_SPACE


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerResult:
    """One layer of a computed stack."""

    name: str
    label: str
    bytes: int
    """Bytes this layer costs: MTU before minus MTU after (frame bytes for link tags)."""
    mtu_after: int
    """IP MTU left for what is inside this layer."""
    alignment_loss: int
    """Bytes of `bytes` lost only to cipher block alignment (0 for most layers)."""
    adds_to: str
    """"packet" (reduces the MTU) or "frame" (an 802.1Q tag growing the Ethernet frame)."""
    reference: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StackResult:
    """The outcome of `compute`."""

    link_mtu: int
    layers: tuple[LayerResult, ...]
    ip_mtu: int
    """IP MTU for the inner packet: the tunnel/interface MTU to configure."""
    overhead: int
    """link_mtu - ip_mtu."""
    inner_family: int
    tcp_timestamps: bool
    mss_ipv4: int
    """MSS for IPv4 TCP inside (ip_mtu - 40): the `ip tcp adjust-mss` value."""
    mss_ipv6: int | None
    """MSS for IPv6 TCP inside (ip_mtu - 60); None when ip_mtu < 1280 (no IPv6 possible)."""
    payload_ipv4: int
    """Data bytes per full IPv4 segment: the MSS less 12 with timestamps (RFC 6691 §2)."""
    payload_ipv6: int | None
    frame_size: int
    """Ethernet frame needed on the physical link without FCS: link_mtu + 14 + tags."""

    @property
    def mss(self) -> int | None:
        """The MSS for the inner family."""
        return self.mss_ipv4 if self.inner_family == 4 else self.mss_ipv6


def parse_layers(specs: Sequence[str], *, outer_family: int = 4) -> tuple[Layer, ...]:
    """Parse layer specs, outer to inner (``["pppoe", "ipsec-tunnel:aes-gcm-16", "gre"]``).

    Args:
        specs: one spec per layer; a spec may also hold several separated by spaces or commas.
        outer_family: delivery IP family of tunnels that do not name one.

    Returns:
        The layers, outer first.

    Raises:
        UsageError: an unknown layer or option (the message lists the known layers).
    """
    if outer_family not in (4, 6):
        raise UsageError(f"outer family must be 4 or 6, got {outer_family}")
    if isinstance(specs, str):  # one string is one spec list, not a sequence of letters
        specs = [specs]
    words = [w for spec in specs for w in spec.replace(",", " ").split()]
    return tuple(parse_layer(w, outer_family=outer_family) for w in words)


def compute(
    link_mtu: int,
    layers: Sequence[Layer],
    *,
    inner_family: int = 4,
    tcp_timestamps: bool = False,
) -> StackResult:
    """Chain `layers` over a link of `link_mtu` and work out the inner MTU and MSS.

    Args:
        link_mtu: IP MTU of the physical link (1500 for Ethernet).
        layers: outer to inner.
        inner_family: 4 or 6, the family of the packets the stack carries.
        tcp_timestamps: whether TCP timestamps are on (reduces data per segment, not the MSS).

    Returns:
        A `StackResult`.

    Raises:
        UsageError: absurd numbers, or a stack that leaves less than the IPv4 (68) or
            IPv6 (1280) minimum MTU where a packet of that family must pass.
    """
    if inner_family not in (4, 6):
        raise UsageError(f"inner family must be 4 or 6, got {inner_family}")
    if not MIN_MTU[4] <= link_mtu <= MAX_MTU:
        raise UsageError(f"link MTU {link_mtu} is out of range {MIN_MTU[4]}..{MAX_MTU}")
    stack = " ".join(layer.name for layer in layers) or "(no layers)"
    mtu, tags, inside_link = link_mtu, 0, False
    results: list[LayerResult] = []
    for i, layer in enumerate(layers):
        if layer.frame_only and not inside_link:
            # On the physical link a VLAN tag lengthens the frame (1518 -> 1522),
            # the IP MTU stays; inside a tunnel's Ethernet payload it costs MTU.
            tags += layer.header
            results.append(_row(layer, layer.header, mtu, 0, "frame"))
            continue
        inside_link = True
        family = _family(layers, i, inner_family)
        if layer.ip_header is IpHeader.OWN and mtu < MIN_MTU[family]:
            raise UsageError(
                f"stack {stack!r}: {layer.name} needs an IPv{family} link of at least "
                f"{MIN_MTU[family]} bytes but has {mtu}"
            )
        payload = layer.max_payload(mtu, family)
        after = payload + (ip_header_bytes(family) if layer.ip_header is IpHeader.KEPT else 0)
        if payload < 1 or after < MIN_MTU[4]:
            raise UsageError(
                f"stack {stack!r} over {link_mtu}: nothing fits inside {layer.name} "
                f"({mtu} bytes available); known layers: {known_layers()}"
            )
        # Room the alignment leaves unused: the largest payload's packet is this short of mtu.
        loss = mtu - layer.wire_size(payload, family)
        results.append(_row(layer, mtu - after, after, loss, "packet"))
        mtu = after
    if mtu < MIN_MTU[inner_family]:
        raise UsageError(
            f"stack {stack!r} over {link_mtu} leaves an IP MTU of {mtu}, below the IPv"
            f"{inner_family} minimum of {MIN_MTU[inner_family]} "
            f"({'RFC 8200 §5' if inner_family == 6 else 'RFC 791 §3.2'})"
        )
    ts = TIMESTAMPS_SPACE if tcp_timestamps else 0
    mss4, mss6 = mss_for(mtu)
    return StackResult(
        link_mtu=link_mtu,
        layers=tuple(results),
        ip_mtu=mtu,
        overhead=link_mtu - mtu,
        inner_family=inner_family,
        tcp_timestamps=tcp_timestamps,
        mss_ipv4=mss4,
        mss_ipv6=mss6,
        payload_ipv4=mss4 - ts,
        payload_ipv6=None if mss6 is None else mss6 - ts,
        frame_size=link_mtu + ETHERNET_HEADER + tags,
    )


def mss_for(ip_mtu: int) -> tuple[int, int | None]:
    """The IPv4 and IPv6 TCP MSS that fit an IP MTU (RFC 9293 §3.7.1: MTU - IP - TCP header).

    Args:
        ip_mtu: the IP MTU, bytes.

    Returns:
        (IPv4 MSS, IPv6 MSS); the IPv6 one is None below IPv6's minimum MTU of 1280.
    """
    mss4 = ip_mtu - ip_header_bytes(4) - TCP_MIN_HEADER
    mss6 = ip_mtu - ip_header_bytes(6) - TCP_MIN_HEADER if ip_mtu >= MIN_MTU[6] else None
    return mss4, mss6


def _row(layer: Layer, cost: int, after: int, loss: int, adds_to: str) -> LayerResult:
    return LayerResult(
        name=layer.name,
        label=layer.label,
        bytes=cost,
        mtu_after=after,
        alignment_loss=loss,
        adds_to=adds_to,
        reference=layer.reference,
    )


def _family(layers: Sequence[Layer], i: int, inner_family: int) -> int:
    """IP family of layer i's delivery header.

    A transport-mode layer without an explicit family protects the header of
    whatever it carries: the next tunnel's delivery header, or the inner packet.
    """
    for layer in layers[i:]:
        if layer.family is not None:
            return layer.family
        if layer.ip_header is not IpHeader.KEPT and not layer.frame_only:
            # Anything else between (PPPoE inside transport ESP is not a thing)
            # ends the search: the payload is the inner packet.
            break
    return inner_family
