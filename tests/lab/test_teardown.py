"""Leaving a lab context manager: a failing teardown raises, unless an error is already leaving."""

from __future__ import annotations

import pytest

from mtuscope.errors import LabError
from mtuscope.lab.teardown import TornDownOnExit


class _Resource(TornDownOnExit):
    def __init__(self, *, fails: bool) -> None:
        self.fails = fails
        self.torn_down = 0

    def _teardown(self) -> None:
        self.torn_down += 1
        if self.fails:
            raise LabError("teardown failed")


def test_entering_returns_the_resource_and_leaving_tears_it_down() -> None:
    resource = _Resource(fails=False)
    with resource as entered:
        assert entered is resource
    assert resource.torn_down == 1


def test_a_failing_teardown_raises_after_a_normal_block() -> None:
    resource = _Resource(fails=True)
    with pytest.raises(LabError, match="teardown failed"), resource:
        pass
    assert resource.torn_down == 1


def test_a_failing_teardown_does_not_hide_the_error_that_ended_the_block() -> None:
    resource = _Resource(fails=True)
    with pytest.raises(KeyError), resource:
        raise KeyError("the real error")
    assert resource.torn_down == 1
