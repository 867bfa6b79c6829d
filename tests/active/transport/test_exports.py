"""The transport package re-exports its public names in a sorted __all__."""

from __future__ import annotations

import mtuscope.active.transport as transport


def test_all_is_sorted_and_complete() -> None:
    assert transport.__all__ == sorted(transport.__all__)
    for name in transport.__all__:
        assert getattr(transport, name) is not None
