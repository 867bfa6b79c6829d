"""What the record walker hands to the bulk decoder: one fixed record per frame
plus the first bytes of its innermost IP packet.

Layer: capture/. Pure data definitions, no I/O.

The walker (C in `_walker.c`, the same logic in pure Python in `walk.py`)
walks the pcap/pcapng records of a buffer, and for each frame walks the link
layer and any tunnels down to the innermost IP header. It writes one
`RECORD_DTYPE` row per frame and copies up to `HEADER_BYTES` bytes, starting
at that innermost IP header, into one row of a `(capacity, HEADER_BYTES)`
uint8 block. numpy then decodes the fixed fields of every row at once
(`decode.py`); TCP options of SYNs and ICMP quotes go through wire/.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

HEADER_BYTES = 192
"""Bytes copied from the innermost IP header: an IPv6 header with extension
headers and a full TCP header, or an ICMP error with its quoted IP and ports."""

NO_OFFSET = 0xFFFF
"""`l3_off`/`l4_off`/`v6frag_off` value when the header is absent."""

NO_LINKTYPE = 0xFFFF
"""`linktype` of a frame that has none: a pcapng custom block or systemd journal
entry, or a packet whose interface id is beyond the section's IDBs. Not a
LINKTYPE_* value (those are `wire.LinkType`)."""

RECORD_DTYPE = np.dtype(
    [
        ("file_off", "=i8"),  # byte offset of the record (pcap header / pcapng block) in the file
        ("ts_hi", "=u4"),  # pcap: seconds; pcapng: upper 32 bits of the timestamp
        ("ts_lo", "=u4"),  # pcap: micro- or nanoseconds; pcapng: lower 32 bits
        ("caplen", "=u4"),  # captured bytes
        ("wirelen", "=u4"),  # original length
        ("encap", "=u4"),  # table.Encap bits met on the way to the innermost IP header
        ("iface", "=u2"),  # global interface index (pcapng: section base + interface id)
        ("linktype", "=u2"),  # wire.LinkType of the frame, NO_LINKTYPE if none
        ("l3_off", "=u2"),  # offset of the innermost IP header in the frame, NO_OFFSET if none
        ("l4_off", "=u2"),  # offset of the transport header from l3_off, NO_OFFSET if none
        ("v6frag_off", "=u2"),  # offset of an IPv6 fragment header from l3_off, NO_OFFSET if none
        ("encap_overhead", "=u2"),  # bytes from the end of the link header to l3_off
        ("hdr_len", "=u2"),  # valid bytes in this frame's block row
        ("family", "=u1"),  # 4, 6 or 0 (no IP found)
        ("l4_proto", "=u1"),  # transport protocol (after IPv6 extension headers)
        ("status", "=u1"),  # WalkStatus
        ("_pad", "V3"),
    ],
    align=False,
)
assert RECORD_DTYPE.itemsize == 48


class WalkStatus(IntEnum):
    """How far the walk of one frame got."""

    OK = 0
    NOT_IP = 1  # a link type or ethertype that carries no IP (ARP, STP, ...)
    UNKNOWN_LINKTYPE = 2  # a link type mtuscope does not decode
    TRUNCATED = 3  # the capture cut the frame inside the link/tunnel headers
    MALFORMED = 4  # a header length that lies (IHL < 5, a length past the frame, ...)
    UNDECODED = 5  # IP carried in a form not decoded (PPP VJ header compression, ...)


class WalkStop(IntEnum):
    """Why a call of the walker returned."""

    END = 0  # no complete record left at `pos` (a partial record may remain)
    FULL = 1  # the record array is full
    BLOCK = 2  # pcapng: a block that is not a packet (SHB, IDB, ...) starts at `pos`
    CORRUPT = 3  # the record at `pos` has an impossible length


class FileFormat(IntEnum):
    PCAP = 0
    PCAPNG = 1
