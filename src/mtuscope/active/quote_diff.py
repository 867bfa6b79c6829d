"""What a router's quote of a probe shows: the header fields a middlebox may change.

Layer: active/. Pure: bytes in, field values out; no I/O, no clock.

A router that drops a packet for its TTL sends ICMP time-exceeded (RFC 792;
RFC 4443 §3.3) quoting the packet *as it arrived there*. `diff_quote` compares
such a quote with the packet that was sent, field by field, under Wireshark's
field names so the evidence can be checked there. A quote that ends inside the
TCP header is marked `too_short` (its options cannot be compared).

The IPv6 flow label is not compared: the sending kernel may set one of its own
(net.ipv6.auto_flowlabels), so it differs from the built packet without any
middlebox. TTL / hop limit and checksums change at every hop by design and are
never compared either.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.errors import DecodeError
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import decode_tcp
from mtuscope.wire.tcp_options import TcpOptions

Value = int | str
"""A compared field's value: integers, addresses and option lists as text."""

# Field names are Wireshark's where one exists, so evidence can be checked there.
IP_FIELDS = ("ip.dsfield", "ip.len", "ip.id", "ip.flags.df", "ip.src", "ip.dst")
IPV6_FIELDS = ("ipv6.tclass", "ipv6.plen", "ipv6.src", "ipv6.dst")
TCP_FIELDS = (
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
)
OPTION_FIELDS = (
    "tcp.options",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.sack_perm",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
)
MSS_FIELD = "tcp.options.mss_val"
SEQ_FIELD = "tcp.seq_raw"

# (bytes of TCP header needed, field, how to read it) for the fixed header, RFC 9293 §3.1.
_TCP_FIXED: tuple[tuple[int, str, slice], ...] = (
    (2, "tcp.srcport", slice(0, 2)),
    (4, "tcp.dstport", slice(2, 4)),
    (8, "tcp.seq_raw", slice(4, 8)),
    (12, "tcp.ack_raw", slice(8, 12)),
    (16, "tcp.window_size_value", slice(14, 16)),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """One header field that differs between what was sent and what a hop quoted."""

    field: str
    """Wireshark's name for it ("tcp.options.mss_val")."""
    sent: Value
    seen: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteDiff:
    """A quote compared with the packet sent."""

    changed: tuple[FieldChange, ...]
    compared: tuple[str, ...]
    """Fields the quote covered (changed or not), in header order."""
    too_short: bool
    """The quote ends before the end of the TCP header: its options cannot be compared."""


def packet_fields(packet: bytes) -> dict[str, Value]:
    """The comparable header fields of an IP packet carrying TCP, as far as the bytes go.

    Args:
        packet: an IPv4 or IPv6 packet from its IP header on; may be cut short.

    Returns:
        Field name -> value; fields beyond the end of the bytes are absent. Addresses
        are strings, the option kinds a comma-separated string, the rest integers.
    """
    out: dict[str, Value] = {}
    if not packet:
        return out
    try:
        if packet[0] >> 4 == 4:
            v4 = decode_ipv4(packet, lenient=True)
            out.update(
                {
                    "ip.dsfield": v4.tos,
                    "ip.len": v4.total_length,
                    "ip.id": v4.ident,
                    "ip.flags.df": int(v4.df),
                    "ip.src": str(v4.src),
                    "ip.dst": str(v4.dst),
                }
            )
            header_len, proto, frag = v4.header_len, int(v4.proto), v4.frag_offset
        elif packet[0] >> 4 == 6:
            v6 = decode_ipv6(packet, lenient=True)
            out.update(
                {
                    "ipv6.tclass": v6.traffic_class,
                    "ipv6.plen": v6.payload_length,
                    "ipv6.src": str(v6.src),
                    "ipv6.dst": str(v6.dst),
                }
            )
            header_len = v6.header_len
            proto = -1 if v6.proto is None else int(v6.proto)
            frag = v6.fragment.offset if v6.fragment else 0
        else:
            return out
    except DecodeError:
        return out
    if proto != 6 or frag:  # not TCP, or no transport header in this fragment
        return out
    tcp = packet[header_len:]
    for need, name, where in _TCP_FIXED:
        if len(tcp) >= need:
            out[name] = int.from_bytes(tcp[where], "big")
    if len(tcp) >= 14:
        out["tcp.flags"] = int.from_bytes(tcp[12:14], "big") & 0x1FF
    try:
        options = decode_tcp(tcp).options
    except DecodeError:
        return out  # the bytes end inside the option area
    out.update(option_fields(options))
    return out


def option_fields(options: TcpOptions) -> dict[str, Value]:
    """The comparable fields of a TCP option area.

    Args:
        options: decoded options.

    Returns:
        Field name -> value: the kinds in wire order, and MSS, window scale,
        SACK-permitted (0/1) and timestamps where present.
    """
    out: dict[str, Value] = {
        "tcp.options": ",".join(kind.name.lower() for kind in options.kinds),
        "tcp.options.sack_perm": int(options.sack_permitted),
    }
    if options.mss is not None:
        out["tcp.options.mss_val"] = options.mss
    if options.wscale is not None:
        out["tcp.options.wscale.shift"] = options.wscale
    if options.timestamps is not None:
        out["tcp.options.timestamp.tsval"] = options.timestamps[0]
        out["tcp.options.timestamp.tsecr"] = options.timestamps[1]
    return out


def diff_quote(sent: bytes, quote: bytes) -> QuoteDiff:
    """Compare an ICMP error's quote with the packet that was sent.

    Args:
        sent: the whole probe packet as built.
        quote: the quoted packet, from its IP header on (usually cut short).

    Returns:
        The fields that differ, the fields the quote covered, and whether it was too
        short to compare the TCP options. A field only one of them has (an option the
        path added or stripped) counts as changed when the quote covers the options.
    """
    before = packet_fields(sent)
    after = packet_fields(quote)
    has_options = "tcp.options" in after
    order = (*IP_FIELDS, *IPV6_FIELDS, *TCP_FIELDS, *OPTION_FIELDS)
    changed: list[FieldChange] = []
    compared: list[str] = []
    for name in order:
        if name in OPTION_FIELDS:
            if not has_options or (name not in before and name not in after):
                continue
        elif name not in after or name not in before:
            continue
        compared.append(name)
        was, now = before.get(name, "absent"), after.get(name, "absent")
        if was != now:
            changed.append(FieldChange(field=name, sent=was, seen=now))
    return QuoteDiff(changed=tuple(changed), compared=tuple(compared), too_short=not has_options)
