"""PacketTable: its shape is checked on construction with mtuscope's errors."""

from __future__ import annotations

from ipaddress import IPv6Address

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.capture.table import COLUMNS, PacketTable, address_text, concat
from mtuscope.errors import UsageError


def test_empty_holds_sentinels() -> None:
    t = PacketTable.empty(3)
    assert len(t) == 3 and list(t) == list(COLUMNS)
    assert t["mss"].tolist() == [-1, -1, -1] and t["frame"].tolist() == [0, 0, 0]


def test_missing_column_is_a_usage_error() -> None:
    cols = dict(PacketTable.empty(2).columns)
    del cols["ttl"]
    with pytest.raises(UsageError, match=r"missing \['ttl'\]"):
        PacketTable(columns=cols)


def test_wrong_dtype_or_length_is_a_usage_error() -> None:
    cols = dict(PacketTable.empty(2).columns)
    cols["ttl"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(UsageError, match="column ttl"):
        PacketTable(columns=cols)
    cols = dict(PacketTable.empty(2).columns)
    cols["ttl"] = np.zeros(3, dtype=np.uint8)
    with pytest.raises(UsageError, match="column ttl"):
        PacketTable(columns=cols)


def test_select_and_concat() -> None:
    t = PacketTable.empty(4)
    t["frame"][:] = [1, 2, 3, 4]
    picked = t.select(np.array([True, False, True, False]))
    assert picked["frame"].tolist() == [1, 3]
    assert concat([picked, t])["frame"].tolist() == [1, 3, 1, 2, 3, 4]
    assert len(concat([])) == 0


@given(v=st.integers(0, 2**32 - 1), hi=st.sampled_from([0, 1]), top=st.sampled_from([0xFFFF, 0]))
def test_address_text_of_ipv4_rows_is_the_dotted_quad(v: int, hi: int, top: int) -> None:
    """The dotted-quad fast path writes what `ipaddress` writes, mapped or not."""
    lo = top << 32 | v
    want = IPv6Address(hi << 64 | lo)
    expected = str(want.ipv4_mapped) if want.ipv4_mapped is not None else str(want)
    assert address_text(hi, lo, 4) == expected
    assert address_text(hi, lo, 6) == str(want)
