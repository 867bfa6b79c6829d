"""The protocol's size limits, named once: minimum MTUs, reassembly sizes, default MSS.

Layer: wire/. Constants only. Header sizes live with their headers
(`IPV4_MIN_HEADER` in ipv4.py, `IPV6_HEADER` in ipv6.py, `TCP_MIN_HEADER` in tcp.py,
`UDP_HEADER`, `ICMP_HEADER`); these are the limits the protocols set on whole
packets. Two IPv4 numbers are easily confused and mean different things:

- 68 is the smallest MTU an IPv4 link may have (RFC 791 §3.2, "every internet
  module must be able to forward a datagram of 68 octets without further
  fragmentation"): a too-big message below it is bogus.
- 576 is the smallest datagram every IPv4 host must accept after reassembly
  (RFC 791 §3.1, RFC 1122 §3.3.2): paths below it are legal but undersized,
  and 576 - 40 = 536 is TCP's default MSS.
"""

from __future__ import annotations

__all__ = [
    "IPV4_MIN_MTU",
    "IPV4_MIN_REASSEMBLY",
    "IPV6_MIN_MTU",
    "MAX_IP_PACKET",
    "MIN_MTU",
    "MIN_REASSEMBLY",
    "TCP_DEFAULT_MSS",
    "TCP_DEFAULT_MSS_IPV4",
    "TCP_DEFAULT_MSS_IPV6",
]

IPV4_MIN_MTU = 68
"""Smallest MTU of an IPv4 link (RFC 791 §3.2)."""
IPV4_MIN_REASSEMBLY = 576
"""Smallest datagram every IPv4 host reassembles (RFC 791 §3.1, RFC 1122 §3.3.2)."""
IPV6_MIN_MTU = 1280
"""Smallest MTU of an IPv6 link, and the smallest IPv6 path MTU (RFC 8200 §5)."""
MAX_IP_PACKET = 65535
"""Largest IPv4 packet, and largest IPv6 packet without a jumbogram (RFC 791, RFC 8200)."""

MIN_MTU: dict[int, int] = {4: IPV4_MIN_MTU, 6: IPV6_MIN_MTU}
"""Smallest legal link MTU by IP version: a smaller too-big MTU is bogus."""
MIN_REASSEMBLY: dict[int, int] = {4: IPV4_MIN_REASSEMBLY, 6: IPV6_MIN_MTU}
"""Smallest packet every host accepts, by IP version: a smaller path MTU is undersized."""

TCP_DEFAULT_MSS_IPV4 = 536
"""MSS assumed when a SYN has no MSS option, IPv4 (RFC 9293 §3.7.1): 576 - 40."""
TCP_DEFAULT_MSS_IPV6 = 1220
"""MSS assumed when a SYN has no MSS option, IPv6 (RFC 9293 §3.7.1, RFC 8200 §8.3): 1280 - 60."""
TCP_DEFAULT_MSS: dict[int, int] = {4: TCP_DEFAULT_MSS_IPV4, 6: TCP_DEFAULT_MSS_IPV6}
"""The default MSS by IP version."""
