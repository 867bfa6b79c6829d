"""What the lab's context managers share: leaving the `with` block tears down.

Layer: lab (an edge). A `Lab` removes its namespaces, a `Capture` stops its
tcpdump; both follow one rule on the way out of a `with` block. When the block
ended normally, a failing teardown raises its `LabError`. When an exception is
already on its way out, a failing teardown must not hide it: its `LabError` is
dropped and the first error propagates.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from mtuscope.errors import LabError


class TornDownOnExit:
    """Base of the lab's context managers; subclasses implement `_teardown`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._teardown()
        except LabError:
            if exc_type is None:
                raise

    def _teardown(self) -> None:
        """Undo what entering (or anything since) set up; idempotent.

        Raises:
            LabError: the teardown failed.
        """
        raise NotImplementedError
