"""Encapsulation layers: what each one adds to a packet, and where the figure comes from.

Layer: calc/. Pure data and arithmetic; no I/O. This module holds the model of
one layer; `layer_types.py` the table of known layers and their sources,
`layer_specs.py` the parser of specs such as ``gre:key``, and `stack.py` chains
layers over a link.

The model: a layer wraps its payload (the next inner layer, or the inner IP
packet) as ``[delivery IP header] header  align(inner + payload)``. The delivery
IP header is either the layer's own (tunnels), none (PPPoE, MPLS), or the
payload's own header kept in front (IPsec transport mode). Ciphers that pad
(ESP, OpenVPN CBC) align the bracketed part; everything else has ``align == 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mtuscope.errors import UsageError
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER

ETHERNET_HEADER = 14
"""IEEE 802.3 §3.1.1: destination, source, EtherType (an encapsulated frame, no FCS)."""


def ip_header_bytes(family: int) -> int:
    """Bytes of a plain IPv4 (20) or IPv6 (40) header."""
    return IPV4_MIN_HEADER if family == 4 else IPV6_HEADER


class IpHeader(StrEnum):
    """Which IP header travels in front of a layer's own header."""

    NONE = "none"
    """No IP header of its own (PPPoE, MPLS, 802.1Q)."""
    OWN = "own"
    """A new delivery header (tunnels, ESP/AH tunnel mode)."""
    KEPT = "kept"
    """The payload's own header stays in front (ESP/AH transport mode)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """One parsed encapsulation layer."""

    name: str
    """Canonical spec ("gre:key", "ipsec-tunnel:aes-gcm-16:natt")."""
    label: str
    """For people ("GRE with key over IPv4")."""
    header: int
    """Bytes added outside the aligned part, not counting any IP header."""
    ip_header: IpHeader = IpHeader.NONE
    family: int | None = None
    """4 or 6: family of the OWN or KEPT IP header; None for KEPT means 'the payload's'."""
    inner: int = 0
    """Bytes added inside the aligned part besides the payload (ESP pad length + next header)."""
    align: int = 1
    """The aligned part is padded to a multiple of this many bytes."""
    header6_extra: int = 0
    """Extra header bytes when the IP family is 6 (AH aligns to 8 bytes over IPv6)."""
    frame_only: bool = False
    """An 802.1Q/QinQ tag: on the physical link it grows the frame, not the packet."""
    reference: str
    """Where the figures come from (RFC section, vendor documentation)."""

    def __post_init__(self) -> None:
        if self.header < 0 or self.inner < 0 or self.align < 1:
            raise UsageError(f"layer {self.name!r}: impossible sizes")

    def wire_size(self, payload: int, family: int | None = None) -> int:
        """Bytes this layer puts on the wire around `payload`, IP header included.

        Args:
            payload: bytes of the next inner layer (or the inner IP packet).
            family: IP family of the delivery header (used for OWN, KEPT and AH);
                default: the layer's own, else 4.

        Returns:
            The size of the packet this layer emits.
        """
        family = family or self.family or 4
        aligned = -(-(payload + self.inner) // self.align) * self.align
        ip = 0 if self.ip_header is IpHeader.NONE else ip_header_bytes(family)
        extra = self.header6_extra if family == 6 else 0
        # In transport mode the IP header is the payload's own, so `payload`
        # excludes it here; `stack.compute` adds it back on the inner side.
        return ip + self.header + extra + aligned

    def max_payload(self, mtu: int, family: int | None = None) -> int:
        """The largest payload whose `wire_size` fits in `mtu` (may be <= 0: nothing fits).

        Computed exactly, not by a rule of thumb: the aligned part is the largest
        multiple of `align` that fits, minus the bytes that must sit inside it.

        Args:
            mtu: bytes available for this layer's packet.
            family: IP family of the delivery header; default: the layer's own, else 4.

        Returns:
            Payload bytes.
        """
        family = family or self.family or 4
        ip = 0 if self.ip_header is IpHeader.NONE else ip_header_bytes(family)
        extra = self.header6_extra if family == 6 else 0
        room = mtu - ip - self.header - extra
        if room < 0:
            return room - self.inner
        return room // self.align * self.align - self.inner
