"""MSS arithmetic, the combined MSS and the stalled-transfer verdict."""

from __future__ import annotations

import pytest

from mtuscope.active.mss import (
    Direction,
    MssObservation,
    TransferObservation,
    TransferVerdict,
    classify_transfer,
    combine_mss,
)
from mtuscope.errors import UsageError


def test_combined_is_the_smallest_known() -> None:
    assert combine_mss(None, None) is None
    assert combine_mss(1460, None, 1360) == 1360
    obs = MssObservation(family=4, server_announced=1460, client_announced=1460, effective=1448)
    assert obs.combined == 1448
    assert MssObservation(family=6).combined is None
    with pytest.raises(UsageError):
        MssObservation(family=4, effective=0)
    with pytest.raises(UsageError):
        MssObservation(family=7)


def _transfer(**kw: object) -> TransferObservation:
    args: dict[str, object] = {
        "direction": Direction.DOWNLOAD,
        "handshake_ok": True,
        "expected_bytes": 65536,
        "moved_bytes": 65536,
        "stalled": False,
    }
    args.update(kw)
    return TransferObservation(**args)  # type: ignore[arg-type]


def test_transfer_verdicts() -> None:
    assert classify_transfer(_transfer()) is TransferVerdict.COMPLETE
    assert classify_transfer(_transfer(handshake_ok=False)) is TransferVerdict.HANDSHAKE_FAILED
    stalled = _transfer(moved_bytes=1200, stalled=True)
    assert classify_transfer(stalled) is TransferVerdict.STALLED
    assert classify_transfer(_transfer(moved_bytes=1200)) is TransferVerdict.SHORT
    assert MssObservation(family=4, transfer=stalled).verdict is TransferVerdict.STALLED
    assert MssObservation(family=4).verdict is None
    with pytest.raises(UsageError):
        _transfer(moved_bytes=-1)
