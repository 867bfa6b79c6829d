"""The receive loop both probe transports share: poll the sockets once, queue what matched.

Layer: active/transport (an edge). A transport never reads the clock (one clock:
the driver's); it is handed how long it may wait. `receive(timeout)` returns a
queued reply at once if there is one, else waits for at most one wake-up of its
sockets and returns what that brought (None for nothing or only strays): the
driver loops, and files a timeout only for probes whose deadline really passed.
"""

from __future__ import annotations

import math
import select
from collections import deque
from ipaddress import ip_address
from types import TracebackType
from typing import Self

from mtuscope.active.probe import Datagram, IPAddress, Reply
from mtuscope.errors import UsageError


class PollingTransport:
    """Base of RawTransport and UdpTransport: the reply queue and the poll loop.

    Subclasses implement `_fds` (the descriptors to watch), `_on_event` (read one
    descriptor and `_pending.append` what it gave) and `close`.
    """

    def __init__(self, family: int, *, src: IPAddress | str | None, iface: str | None) -> None:
        """Check the family and the source address.

        Raises:
            UsageError: a family other than 4 or 6, or a source of the other family.
        """
        if family not in (4, 6):
            raise UsageError(f"IP family must be 4 or 6, not {family!r}")
        self.family = family
        self.iface = iface
        """SO_BINDTODEVICE for every socket, or None."""
        self.src: IPAddress | None = None
        """The source address of every probe, or None for the kernel's choice."""
        if src is not None:
            self.src = ip_address(src) if isinstance(src, str) else src
            if self.src.version != family:
                raise UsageError(f"source {self.src} is not an IPv{family} address")
        self._pending: deque[Reply | Datagram] = deque()
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket (idempotent)."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the transport is closed")

    def _fds(self) -> list[int]:
        """The descriptors replies may arrive on."""
        raise NotImplementedError

    def _on_event(self, fd: int, mask: int) -> None:
        """Read what `fd` has (`mask`: poll's events) and queue the replies it matched."""
        raise NotImplementedError

    def receive(self, timeout: float) -> Reply | Datagram | None:
        """The next reply (or bytes for the engine to match), waiting at most `timeout` s.

        Args:
            timeout: seconds to wait (0 only looks at what has already arrived);
                the driver computes it from its clock and the engine's deadline.

        Returns:
            A reply (the UDP transport; a local refusal), a datagram (what a raw
            socket read), or None when nothing came in one wake-up.

        Raises:
            UsageError: the transport is closed.
        """
        self._check_open()
        if not self._pending:
            poller = select.poll()
            for fd in self._fds():
                poller.register(fd, select.POLLIN)
            # Round up to whole milliseconds: waking a hair late is harmless, early spins.
            for fd, mask in poller.poll(max(0, math.ceil(timeout * 1000))):
                self._on_event(fd, mask)
        return self._pending.popleft() if self._pending else None
