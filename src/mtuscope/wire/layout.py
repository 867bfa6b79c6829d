"""Fixed header layouts, declared once in wire order: the fields' names, offsets and widths.

Layer: wire/. Pure data: no I/O. Each header module declares its fixed part as a
`Layout` next to its decoder (`IPV4_LAYOUT` in ipv4.py, with the RFC section),
the way dpkt lists `__hdr__`. Everything that reads those bytes derives its
offsets from that one declaration: the cursor decoders (`Layout.read`), the
encoders (`Layout.pack`), capture/'s numpy gathers (`Layout.field`), and the
compiled walker, whose `#define`s a test checks against these layouts.

A field is a whole number of bytes. Fields that share bytes (the IPv4 version
and IHL nibbles, the TCP data offset and flags) are declared as the byte or word
that holds them; their bits are masked where they are used, with the RFC named.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from mtuscope.errors import Truncated, UsageError
from mtuscope.wire.cursor import Cursor

__all__ = ["Field", "Layout", "check_range"]

_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
"""Big-endian struct codes for the widths struct reads as ints; other widths
(the 16-byte IPv6 addresses) are read as bytes and turned into ints."""


def check_range(what: str, name: str, value: int, top: int) -> None:
    """Refuse a header value outside 0..top.

    Raises:
        UsageError: "<what> <name> <value> out of range".
    """
    if not 0 <= value <= top:
        raise UsageError(f"{what} {name} {value} out of range")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a fixed header."""

    name: str
    """Its name, as the decoder's value calls it where it can ("ttl", "src")."""
    offset: int
    """Bytes from the start of the header."""
    width: int
    """Bytes it takes (big-endian)."""

    @property
    def end(self) -> int:
        """The offset just past it."""
        return self.offset + self.width

    @property
    def span(self) -> slice:
        """Its bytes within the header, as a slice."""
        return slice(self.offset, self.offset + self.width)


class Layout:
    """The fixed part of one header: its fields in wire order, without gaps."""

    __slots__ = ("name", "reference", "fields", "size", "_by_name", "_top", "_struct", "_wide")

    def __init__(self, name: str, reference: str, *fields: tuple[str, int]) -> None:
        """Args:
            name: the header, for error messages ("IPv4").
            reference: where the layout is defined ("RFC 791 §3.1").
            fields: (name, width in bytes), in wire order; offsets follow.

        Raises:
            UsageError: a name given twice or a width below 1.
        """
        self.name = name
        self.reference = reference
        at = 0
        out: list[Field] = []
        for fname, width in fields:
            if width < 1:
                raise UsageError(f"{name} field {fname}: width {width}")
            out.append(Field(fname, at, width))
            at += width
        self.fields: tuple[Field, ...] = tuple(out)
        """The fields in wire order."""
        self.size = at
        """Bytes of the fixed header."""
        self._by_name = {f.name: f for f in out}
        if len(self._by_name) != len(out):
            raise UsageError(f"{name} layout names a field twice")
        # Derived once, so that decoding a header is one unpack_from (probe
        # replies are decoded per packet) and checking a value one dict look-up.
        self._top = {f.name: (1 << (8 * f.width)) - 1 for f in out}
        self._struct = struct.Struct(
            ">" + "".join(_STRUCT_CODES.get(f.width, f"{f.width}s") for f in out)
        )
        self._wide = tuple(f.name for f in out if f.width not in _STRUCT_CODES)

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, {self.size} bytes, {self.reference})"

    def field(self, name: str) -> Field:
        """The field called `name`.

        Raises:
            UsageError: no such field.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise UsageError(f"{self.name} header has no field {name!r}") from None

    def offset(self, name: str) -> int:
        """Offset of the field called `name`, in bytes from the header start."""
        return self.field(name).offset

    def check(self, **values: int) -> None:
        """Refuse values that do not fit the width of the fields they are named after.

        Raises:
            UsageError: a value out of range, or a name that is not a field.
        """
        for name, value in values.items():
            top = self._top.get(name)
            if top is None:
                self.field(name)  # raises: no such field
            elif not 0 <= value <= top:
                check_range(self.name, name, value, top)  # raises: out of range

    def read(self, cur: Cursor) -> Mapping[str, int]:
        """Read the whole fixed header at the cursor, each field a big-endian int.

        Args:
            cur: positioned at the header; it stands after it on return.

        Returns:
            Field name -> value.

        Raises:
            Truncated: the bytes end inside the header; `offset` is where the
                first field that does not fit starts.
        """
        start = cur.offset
        have = cur.remaining
        if have < self.size:
            cut = next(f for f in self.fields if f.end > have)
            raise Truncated(
                f"{self.name} header cut at {have} of {self.size} bytes (field {cut.name})",
                offset=start + cut.offset,
            )
        values = dict(zip(self._by_name, self._struct.unpack(cur.bytes(self.size)), strict=True))
        for name in self._wide:
            values[name] = int.from_bytes(values[name], "big")
        return values

    def pack(self, **values: int) -> bytearray:
        """Encode the fixed header from one int per field (big-endian).

        Raises:
            UsageError: a field missing or unknown, or a value that does not fit its width.
        """
        if set(values) != set(self._by_name):
            missing = sorted(set(self._by_name) - set(values))
            extra = sorted(set(values) - set(self._by_name))
            raise UsageError(f"{self.name} header: missing {missing}, unknown {extra}")
        self.check(**values)
        out = bytearray()
        for f in self.fields:
            out += values[f.name].to_bytes(f.width, "big")
        return out
