"""One bounded cursor over a byte string: the only way wire/ reads bytes.

Layer: wire/. Pure: no I/O, no globals, no clock. A read past the end raises
`Truncated` with the offset where the read started; `within(n)` confines a
sub-parse (TCP options sized by the data offset, an IPv6 extension header) to
its own bytes, the way dnspython's `Parser.restrict_to` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mtuscope.errors import Truncated

_Bytes = bytes  # the builtin, for annotations inside the class that defines a `bytes` method

__all__ = ["Cursor"]


class Cursor:
    """Big-endian reader over `data`, starting at `offset`, never past its end."""

    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: bytes, offset: int = 0) -> None:
        """Args:
            data: the bytes to read.
            offset: where reading starts (0 <= offset <= len(data)).

        Raises:
            Truncated: `offset` is beyond the end of `data`.
        """
        if offset < 0 or offset > len(data):
            raise Truncated(f"start offset {offset} outside {len(data)} bytes", offset=offset)
        self._data = bytes(data)
        self._pos = offset
        self._end = len(self._data)

    @property
    def offset(self) -> int:
        """Position of the next byte to read, from the start of the buffer."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Bytes left before the current end (the `within` limit, if any)."""
        return self._end - self._pos

    def _take(self, n: int) -> int:
        start = self._pos
        if n < 0 or start + n > self._end:
            raise Truncated(
                f"need {n} bytes at offset {start}, have {self._end - start}", offset=start
            )
        self._pos = start + n
        return start

    def u8(self) -> int:
        """Read one byte.

        Returns:
            The byte as an int.

        Raises:
            Truncated: no byte left.
        """
        return self._data[self._take(1)]

    def u16(self) -> int:
        """Read a big-endian 16-bit unsigned integer.

        Raises:
            Truncated: fewer than 2 bytes left.
        """
        at = self._take(2)
        return int.from_bytes(self._data[at : at + 2], "big")

    def u32(self) -> int:
        """Read a big-endian 32-bit unsigned integer.

        Raises:
            Truncated: fewer than 4 bytes left.
        """
        at = self._take(4)
        return int.from_bytes(self._data[at : at + 4], "big")

    def bytes(self, n: int) -> _Bytes:
        """Read `n` bytes.

        Raises:
            Truncated: fewer than `n` bytes left.
        """
        at = self._take(n)
        return self._data[at : at + n]

    def rest(self) -> _Bytes:
        """Read every byte left before the current end (possibly none)."""
        return self.bytes(self.remaining)

    def skip(self, n: int) -> None:
        """Move `n` bytes forward.

        Raises:
            Truncated: fewer than `n` bytes left.
        """
        self._take(n)

    def peek_u8(self) -> int:
        """Return the next byte without moving.

        Raises:
            Truncated: no byte left.
        """
        if self._pos >= self._end:
            raise Truncated(f"need 1 byte at offset {self._pos}, have 0", offset=self._pos)
        return self._data[self._pos]

    @contextmanager
    def within(self, n: int) -> Iterator[Cursor]:
        """Confine reads to the next `n` bytes for the duration of the block.

        Inside the block a read past those `n` bytes raises `Truncated`. When the
        block ends normally the cursor stands just after the `n` bytes, whether
        or not the block read all of them (unread bytes are padding).

        Args:
            n: size of the region.

        Yields:
            This cursor, restricted.

        Raises:
            Truncated: fewer than `n` bytes are left.
        """
        start = self._pos
        if n < 0 or start + n > self._end:
            raise Truncated(
                f"region of {n} bytes at offset {start} exceeds {self._end - start} left",
                offset=start,
            )
        saved_end = self._end
        self._end = start + n
        try:
            yield self
        finally:
            self._end = saved_end
        self._pos = start + n
