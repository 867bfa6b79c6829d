"""Initial-TTL guesses for the senders of ICMP messages.

Layer: passive/. Pure functions; no I/O.

Stacks start IP TTLs (hop limits) at a few well-known values, so the smallest
of them not below the TTL seen is the likely start, and the start hints at the
sender's software: 64 for Linux and the BSDs (RFC 1700's recommended default,
and most routers whose control plane runs Linux), 128 for Windows, 255 for
network operating systems (Cisco IOS, Junos) and many ICMP generators, 32 for
old Windows 9x and some embedded stacks.
"""

from __future__ import annotations

INITIAL_TTLS = (32, 64, 128, 255)

_HINTS = {
    32: "old Windows 9x or an embedded stack",
    64: "Linux/BSD (or a router running Linux)",
    128: "Windows",
    255: "a Cisco/Juniper-style network OS",
}


def initial_ttl_guess(ttl: int) -> int:
    """The smallest common initial TTL not below `ttl`.

    Args:
        ttl: the TTL or hop limit seen, 0..255.

    Returns:
        32, 64, 128 or 255.
    """
    return next(t for t in INITIAL_TTLS if t >= ttl) if ttl <= 255 else 255


def sender_hint(initial_ttl: int) -> str:
    """What an initial TTL suggests about the sender's software.

    Args:
        initial_ttl: a value from `INITIAL_TTLS`.

    Returns:
        A few words, e.g. "Windows".
    """
    return _HINTS.get(initial_ttl, "unknown")
