"""TCP options: the option area of a TCP header <-> `TcpOptions`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

The decoder follows Wireshark's `tcp_dissect_options` (4.0) so that our MSS
equals tshark's `tcp.options.mss_val`:

- EOL (kind 0) ends the walk; what follows is padding (RFC 9293 §3.2).
- NOP (kind 1) is one byte.
- Every other kind has a length byte counting kind and length. A length below 2
  stops the walk and sets `malformed`. An option that runs past the end of the
  bytes stops the walk and sets `truncated` (the capture cut it), or `malformed`
  when the caller says how long the option area really is (`area_len`) and the
  option runs past that too (a lying length). Options decoded before stay.
- An MSS, window-scale, SACK-permitted or timestamps option whose length is not
  the one its RFC fixes (4, 3, 2, 10) is kept in `options` but not interpreted,
  and sets `malformed`: Wireshark's `tcp_option_len_check` flags it and adds no
  `mss_val`. The walk goes on after it, as Wireshark's does.
- Several MSS options: Wireshark reports every one (a comma list in `-T fields`);
  `mss_all` holds them all in wire order and `mss` the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mtuscope.errors import Truncated, UsageError
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import TcpOptionKind

__all__ = [
    "MAX_OPTIONS_LEN",
    "OPTION_LENGTHS",
    "TIMESTAMPS_SPACE",
    "TcpOption",
    "TcpOptions",
    "decode_tcp_options",
    "encode_tcp_options",
    "syn_options",
]

MAX_OPTIONS_LEN = 40
"""The option area is at most 40 bytes: data offset 15 words minus the fixed 20 (RFC 9293 §3.1)."""

# Fixed total lengths (kind + length + data) of the options we interpret.
# MSS: RFC 9293 §3.2; WSCALE: RFC 7323 §2.2; SACK_PERMITTED: RFC 2018 §2;
# TIMESTAMPS: RFC 7323 §3.2.
OPTION_LENGTHS: dict[TcpOptionKind, int] = {
    TcpOptionKind.MSS: 4,
    TcpOptionKind.WSCALE: 3,
    TcpOptionKind.SACK_PERMITTED: 2,
    TcpOptionKind.TIMESTAMPS: 10,
}

TIMESTAMPS_SPACE = 12
"""Option bytes the timestamps option takes in every segment as stacks send it: its 10
bytes after two NOPs that keep it 4-byte aligned (RFC 7323 Appendix A). The MSS a
sender fills is the MSS less this when timestamps were agreed."""
"""Total length of each option mtuscope interprets; capture/'s bulk walk counts these only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOption:
    """One TCP option as it sat on the wire."""

    kind: TcpOptionKind
    """Option kind (an unknown kind is a `KIND<n>` placeholder)."""
    data: bytes = b""
    """The option's bytes after kind and length (empty for EOL and NOP)."""

    def __post_init__(self) -> None:
        if self.kind in (TcpOptionKind.EOL, TcpOptionKind.NOP) and self.data:
            raise UsageError(f"{self.kind} carries no data")
        if len(self.data) > MAX_OPTIONS_LEN - 2:
            raise UsageError(f"{self.kind} data of {len(self.data)} bytes cannot fit")

    @property
    def wire_len(self) -> int:
        """Bytes the option takes on the wire."""
        if self.kind in (TcpOptionKind.EOL, TcpOptionKind.NOP):
            return 1
        return 2 + len(self.data)


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOptions:
    """The decoded option area of one TCP header."""

    mss: int | None = None
    """Maximum segment size in bytes from the first well-formed MSS option; None if none."""
    mss_all: tuple[int, ...] = ()
    """Every well-formed MSS option's value, in wire order (what tshark lists)."""
    wscale: int | None = None
    """Window scale shift count as sent (not clamped to 14); None if no option."""
    sack_permitted: bool = False
    """A well-formed SACK-permitted option is present."""
    timestamps: tuple[int, int] | None = None
    """(TSval, TSecr) of the first well-formed timestamps option; None if none."""
    options: tuple[TcpOption, ...] = ()
    """Every option decoded, in wire order, EOL and NOPs included."""
    truncated: bool = False
    """The bytes ended inside an option (a capture cut)."""
    malformed: bool = False
    """An option length was impossible, or wrong for its kind."""

    @property
    def kinds(self) -> tuple[TcpOptionKind, ...]:
        """The option kinds in wire order (handy for comparing two vantage points)."""
        return tuple(option.kind for option in self.options)


def decode_tcp_options(data: bytes, *, area_len: int | None = None) -> TcpOptions:
    """Decode a TCP option area leniently; never raises for any bytes.

    Args:
        data: the option bytes (TCP header bytes 20 up to the data offset), as far
            as the capture has them.
        area_len: the option area length the header declares (data offset * 4 - 20),
            when known and `data` may be shorter. An option running past the end of
            `data` but not past `area_len` is `truncated`; past both, `malformed`.
            None: every overrun counts as `truncated`.

    Returns:
        The decoded options; `truncated`/`malformed` tell why the walk stopped early.
    """
    end = len(data) if area_len is None else max(0, min(len(data), area_len))
    options: list[TcpOption] = []
    mss_all: list[int] = []
    wscale: int | None = None
    sack_permitted = False
    timestamps: tuple[int, int] | None = None
    truncated = malformed = False
    cur = Cursor(data[:end])
    while cur.remaining:
        kind = TcpOptionKind(cur.u8())
        if kind in (TcpOptionKind.EOL, TcpOptionKind.NOP):
            options.append(TcpOption(kind=kind))
            if kind == TcpOptionKind.EOL:
                break
            continue
        start = cur.offset - 1
        if not cur.remaining:  # the length byte is missing
            malformed, truncated = _overrun(start + 2, area_len)
            break
        length = cur.u8()
        if length < 2:
            malformed = True
            break
        try:
            body = cur.bytes(length - 2)
        except Truncated:
            malformed, truncated = _overrun(start + length, area_len)
            break
        options.append(TcpOption(kind=kind, data=body))
        fixed = OPTION_LENGTHS.get(kind)
        if fixed is None:
            continue
        if length != fixed:
            malformed = True
            continue
        if kind == TcpOptionKind.MSS:
            mss_all.append(int.from_bytes(body, "big"))
        elif kind == TcpOptionKind.WSCALE:
            wscale = body[0] if wscale is None else wscale
        elif kind == TcpOptionKind.SACK_PERMITTED:
            sack_permitted = True
        elif timestamps is None:  # TIMESTAMPS
            timestamps = (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big"))
    return TcpOptions(
        mss=mss_all[0] if mss_all else None,
        mss_all=tuple(mss_all),
        wscale=wscale,
        sack_permitted=sack_permitted,
        timestamps=timestamps,
        options=tuple(options),
        truncated=truncated,
        malformed=malformed,
    )


def encode_tcp_options(options: Iterable[TcpOption], *, pad: bool = True) -> bytes:
    """Encode options in the given order.

    Args:
        options: the options, in wire order.
        pad: append EOL (zero) bytes up to a multiple of 4, as the data offset
            counts 32-bit words (RFC 9293 §3.1).

    Returns:
        The option area bytes.

    Raises:
        UsageError: the options need more than 40 bytes.
    """
    out = bytearray()
    for option in options:
        out.append(option.kind)
        if option.wire_len > 1:  # all but EOL and NOP: kind, length, data (RFC 9293 §3.2)
            out.append(option.wire_len)
            out += option.data
    if pad and len(out) % 4:
        out += bytes(4 - len(out) % 4)
    if len(out) > MAX_OPTIONS_LEN:
        raise UsageError(f"TCP options need {len(out)} bytes, at most {MAX_OPTIONS_LEN} fit")
    return bytes(out)


def syn_options(
    *,
    mss: int | None = None,
    wscale: int | None = None,
    sack_permitted: bool = False,
    timestamps: tuple[int, int] | None = None,
) -> tuple[TcpOption, ...]:
    """The usual SYN options, laid out 4-byte aligned the way Linux sends them.

    Order: MSS; SACK-permitted + timestamps (or NOP-padded either); NOP + window scale.

    Args:
        mss: MSS value in bytes (0..65535), or None for no MSS option.
        wscale: window scale shift count (0..255), or None.
        sack_permitted: include SACK-permitted.
        timestamps: (TSval, TSecr), or None.

    Returns:
        The options, ready for `encode_tcp_options`.

    Raises:
        UsageError: a value does not fit its field.
    """
    nop = TcpOption(kind=TcpOptionKind.NOP)
    out: list[TcpOption] = []
    if mss is not None:
        out.append(TcpOption(kind=TcpOptionKind.MSS, data=_uint(mss, 2, "mss")))
    sack = TcpOption(kind=TcpOptionKind.SACK_PERMITTED)
    if timestamps is not None:
        ts = TcpOption(
            kind=TcpOptionKind.TIMESTAMPS,
            data=_uint(timestamps[0], 4, "TSval") + _uint(timestamps[1], 4, "TSecr"),
        )
        out += [sack, ts] if sack_permitted else [nop, nop, ts]
    elif sack_permitted:
        out += [nop, nop, sack]
    if wscale is not None:
        out += [nop, TcpOption(kind=TcpOptionKind.WSCALE, data=_uint(wscale, 1, "wscale"))]
    return tuple(out)


def _overrun(needed: int, area_len: int | None) -> tuple[bool, bool]:
    """(malformed, truncated) for an option that needs the bytes up to `needed`."""
    lying = area_len is not None and needed > area_len
    return lying, not lying


def _uint(value: int, size: int, name: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise UsageError(f"{name} {value} does not fit in {size} bytes")
    return value.to_bytes(size, "big")
