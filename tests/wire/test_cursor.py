"""Tests for mtuscope.wire.cursor."""

from __future__ import annotations

import pytest

from mtuscope.errors import DecodeError, Truncated
from mtuscope.wire.cursor import Cursor


def test_reads_big_endian_in_order() -> None:
    cur = Cursor(bytes.fromhex("01 0203 04050607 0809"))
    assert cur.u8() == 1
    assert cur.u16() == 0x0203
    assert cur.u32() == 0x04050607
    assert cur.offset == 7
    assert cur.remaining == 2
    assert cur.bytes(2) == b"\x08\x09"
    assert cur.remaining == 0


def test_read_past_end_raises_truncated_with_offset() -> None:
    cur = Cursor(b"\x00\x01\x02", offset=1)
    with pytest.raises(Truncated) as info:
        cur.u32()
    assert info.value.offset == 1
    assert isinstance(info.value, DecodeError)
    assert cur.offset == 1  # a failed read does not move the cursor


def test_start_offset_outside_data_is_truncated() -> None:
    with pytest.raises(Truncated):
        Cursor(b"\x00", offset=2)


def test_within_confines_and_then_skips_the_region() -> None:
    cur = Cursor(bytes(range(10)))
    cur.skip(1)
    with cur.within(4) as sub:
        assert sub.remaining == 4
        assert sub.u16() == 0x0102
        with pytest.raises(Truncated) as info:
            sub.u32()  # would cross the region's end at byte 5
        assert info.value.offset == 3
    # the two unread bytes of the region are skipped; the outer end is back
    assert cur.offset == 5
    assert cur.remaining == 5
    assert cur.rest() == bytes(range(5, 10))


def test_within_larger_than_what_is_left_is_truncated() -> None:
    cur = Cursor(b"\x00\x00")
    with pytest.raises(Truncated), cur.within(3):
        pass


def test_peek_does_not_move() -> None:
    cur = Cursor(b"\x07")
    assert cur.peek_u8() == 7
    assert cur.offset == 0
    cur.skip(1)
    with pytest.raises(Truncated):
        cur.peek_u8()
