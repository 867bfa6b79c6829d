"""Interrupts (SIGINT, SIGTERM) as the jobs see them: stop waiting, keep what was found.

Layer: jobs/. The edge that owns the process (the CLI) installs a signal handler
that calls `INTERRUPTS.request()`. A job that keeps partial results runs inside
`INTERRUPTS.keeping()` and marks where it waits on the network or a pipe with
`INTERRUPTS.armed()`. An interrupt inside such a region raises `KeyboardInterrupt`
there (the probe driver or the capture reader stops, and the
job builds its report from what it has); one that comes elsewhere (while an engine
is built, a finding worded, the report printed) is only noted, and the next armed
region raises at once on entry, so no report is lost to where the signal happened
to land. Outside any keeping job (the responder, the lab) an interrupt raises at
once, as Python's default handler does. A second interrupt exits the process at
once (130).

Without the CLI's handler (the library, tests) Python's default SIGINT handler
raises `KeyboardInterrupt` anywhere; the jobs catch it in the same places.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130
"""128 + SIGINT, as shells report a process ended by Ctrl-C."""


class Interrupts:
    """The process's interrupt state (one instance: `INTERRUPTS`)."""

    def __init__(self) -> None:
        self.count = 0
        """Interrupts requested since `reset`."""
        self._armed = 0
        self._keeping = 0

    @property
    def requested(self) -> bool:
        """True once an interrupt was requested."""
        return self.count > 0

    def request(self) -> None:
        """An interrupt arrived (called from the signal handler).

        Raises:
            KeyboardInterrupt: inside an armed region.
        """
        self.count += 1
        if self.count > 1:
            os._exit(EXIT_INTERRUPTED)
        if self._armed or not self._keeping:
            raise KeyboardInterrupt

    @contextmanager
    def keeping(self) -> Iterator[None]:
        """A job that keeps what it found: interrupts raise only in its armed regions."""
        self._keeping += 1
        try:
            yield
        finally:
            self._keeping -= 1

    @contextmanager
    def armed(self) -> Iterator[None]:
        """A region where the job waits and an interrupt may stop it at once.

        Raises:
            KeyboardInterrupt: on entry when an interrupt already came, or inside.
        """
        if self.requested:
            raise KeyboardInterrupt
        self._armed += 1
        try:
            yield
        finally:
            self._armed -= 1

    def reset(self) -> None:
        """Forget earlier interrupts (each CLI invocation starts afresh)."""
        self.count = 0
        self._armed = 0
        self._keeping = 0


INTERRUPTS = Interrupts()
"""The process-wide interrupt state."""
