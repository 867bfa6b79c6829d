"""PacketTable: its shape is checked on construction with mtuscope's errors."""

from __future__ import annotations

import numpy as np
import pytest

from mtuscope.capture.table import COLUMNS, PacketTable, concat
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
