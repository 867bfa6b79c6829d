"""classify_transfer: a server that ends its answer early is done, not stalled."""

from __future__ import annotations

from mtuscope.active.mss import (
    Direction,
    RequestKind,
    TransferObservation,
    TransferVerdict,
    classify_transfer,
)


def _obs(moved: int, *, stalled: bool = False, done: bool = False) -> TransferObservation:
    return TransferObservation(
        direction=Direction.DOWNLOAD,
        handshake_ok=True,
        expected_bytes=100_000,
        moved_bytes=moved,
        stalled=stalled,
        request=RequestKind.HTTP_GET,
        server_done=done,
    )


def test_a_response_ended_by_the_server_is_complete() -> None:
    # An HTTP answer of 445 bytes followed by the server's FIN (Connection: close).
    assert classify_transfer(_obs(445, done=True)) is TransferVerdict.COMPLETE


def test_a_stall_stays_a_stall_and_a_close_without_bytes_is_short() -> None:
    assert classify_transfer(_obs(150, stalled=True)) is TransferVerdict.STALLED
    assert classify_transfer(_obs(0, stalled=True)) is TransferVerdict.STALLED
    assert classify_transfer(_obs(0, done=True)) is TransferVerdict.SHORT
    assert classify_transfer(_obs(100, done=False)) is TransferVerdict.SHORT
    assert classify_transfer(_obs(100_000)) is TransferVerdict.COMPLETE
