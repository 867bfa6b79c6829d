"""Every exception mtuscope raises, in one tree.

    MtuscopeError
     ├── DecodeError            bytes that do not decode
     │    ├── Truncated         the bytes end early (a snaplen cut: normal in captures)
     │    └── Malformed         a field is impossible (a length that lies)
     ├── CaptureError           a capture file that cannot be read on
     ├── ProbeError             the network refused what we asked of it
     │    ├── RawSocketDenied   raw sockets need root or CAP_NET_RAW (exit 3)
     │    ├── NoRoute
     │    └── PortClosed        the peer refused the connection (RST): nothing listens there
     ├── LabError               a lab of network namespaces could not be built, run or removed
     └── UsageError             the caller asked for something impossible (exit 2)

There is no error for an unknown link type: frames of a link type mtuscope does
not decode are counted and warned about, never fatal (a capture may mix them with
frames it can read). `UsageError` is also what a public class raises when it is
built from values it cannot hold (a `PacketTable` with a missing column).

A class's docstring is its default message; the facts sit in attributes too, so
that a dashboard can show them without parsing the text. A finding is data,
never an exception.
"""

from __future__ import annotations


class MtuscopeError(Exception):
    """mtuscope failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())


class DecodeError(MtuscopeError):
    """The bytes do not decode."""

    def __init__(self, message: str | None = None, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        """Byte offset of the problem within the decoded buffer, when known."""


class Truncated(DecodeError):
    """The bytes end before the header does."""


class Malformed(DecodeError):
    """A header field holds an impossible value."""


class CaptureError(MtuscopeError):
    """The capture file cannot be read on."""

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str | None = None,
        offset: int | None = None,
        frame: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        """The capture file ('-' for standard input)."""
        self.offset = offset
        """Byte offset in the (decompressed) file where the problem starts."""
        self.frame = frame
        """1-based frame number, as Wireshark numbers it, when the problem is in a packet."""

    def __str__(self) -> str:
        where = [w for w in (self.path, _at("offset", self.offset), _at("frame", self.frame)) if w]
        text = super().__str__()
        return f"{', '.join(where)}: {text}" if where else text


class ProbeError(MtuscopeError):
    """The network refused a probe."""


class RawSocketDenied(ProbeError):
    """Raw sockets need root or CAP_NET_RAW."""


class NoRoute(ProbeError):
    """There is no route to the target."""


class PortClosed(ProbeError):
    """The peer answered the connection with a reset: nothing listens on that port."""


class LabError(MtuscopeError):
    """The lab of network namespaces could not be built, run or torn down."""

    def __init__(
        self,
        message: str | None = None,
        *,
        command: tuple[str, ...] | None = None,
        returncode: int | None = None,
        stderr: str | None = None,
    ) -> None:
        super().__init__(message)
        self.command = command
        """The command that failed, as an argument vector, when one did."""
        self.returncode = returncode
        """Its exit status (None when it could not be started or timed out)."""
        self.stderr = stderr
        """What it printed on standard error, trimmed."""


class UsageError(MtuscopeError):
    """The request is impossible or malformed."""


def _at(name: str, value: int | None) -> str | None:
    return None if value is None else f"{name} {value}"
