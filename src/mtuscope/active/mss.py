"""MSS observations toward one host, and the "handshake works, transfer stalls" verdict.

Layer: active/. Pure arithmetic and classification; no sockets, no clock. The
transport measures (the MSS option of a SYN/ACK to our SYN probe, TCP_MAXSEG /
TCP_INFO of a real connection, a small real download or upload) and fills an
`MssObservation`; this module combines and classifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mtuscope.active.probe import IP_HEADER
from mtuscope.errors import UsageError
from mtuscope.wire.tcp_options import TIMESTAMPS_SPACE


def combine_mss(*values: int | None) -> int | None:
    """The MSS a connection ends up with: the smallest of the values known.

    Args:
        values: announced and effective MSS values; None for unknown.

    Returns:
        The smallest known value, or None when none is known.
    """
    known = [v for v in values if v is not None]
    return min(known) if known else None


class Direction(StrEnum):
    DOWNLOAD = "download"
    """The far end sends the bulk: a stall points at the reverse path."""
    UPLOAD = "upload"
    """We send the bulk: a stall points at the forward path."""


class RequestKind(StrEnum):
    """What a download sent first, to make the server talk."""

    NONE = "none"
    """Nothing: for a server that talks first (or `--request none`)."""
    HTTP_GET = "http-get"
    """`GET / HTTP/1.1` with `Connection: close` (wire/http.py)."""
    TLS_CLIENT_HELLO = "tls-client-hello"
    """A TLS 1.3/1.2 ClientHello (wire/tls.py): the server answers with its certificates."""
    USER = "user"
    """The user's own bytes (`--request TEXT`)."""


class TransferVerdict(StrEnum):
    COMPLETE = "complete"
    HANDSHAKE_FAILED = "handshake-failed"
    STALLED = "stalled"
    """Handshake fine, then no progress before the end: the black-hole signature."""
    SHORT = "short"
    """The connection ended before all bytes came, without a stall (a reset, a close)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferObservation:
    """What a real small transfer did (measured by the transport)."""

    direction: Direction
    handshake_ok: bool
    expected_bytes: int
    """Bytes the transfer should move."""
    moved_bytes: int
    """Bytes acknowledged (upload) or received (download) before it ended or stalled."""
    stalled: bool
    """True when no byte moved for the stall timeout while bytes were outstanding."""
    largest_segment: int | None = None
    """Largest TCP payload that did get through, bytes (TCP_INFO `tcpi_rcv_mss` for a download)."""
    request: RequestKind = RequestKind.NONE
    """What was sent first to make the server talk."""
    server_done: bool = False
    """The server finished before `expected_bytes`: it closed in order (a FIN after
    its response), or a TLS server's first flight came whole and it waits for us."""

    def __post_init__(self) -> None:
        if self.expected_bytes < 0 or self.moved_bytes < 0:
            raise UsageError("byte counts cannot be negative")


def classify_transfer(obs: TransferObservation) -> TransferVerdict:
    """Tell a black hole's "handshake works, then the transfer stalls" from other ends.

    Args:
        obs: the measured transfer.

    Returns:
        The verdict.
    """
    if not obs.handshake_ok:
        return TransferVerdict.HANDSHAKE_FAILED
    if obs.moved_bytes >= obs.expected_bytes or (obs.server_done and obs.moved_bytes > 0):
        return TransferVerdict.COMPLETE
    return TransferVerdict.STALLED if obs.stalled else TransferVerdict.SHORT


@dataclass(frozen=True, slots=True, kw_only=True)
class MssObservation:
    """The MSS values seen toward one host and port."""

    family: int
    """4 or 6."""
    port: int | None = None
    server_announced: int | None = None
    """MSS option in the server's SYN/ACK, bytes; None when absent or not measured."""
    client_announced: int | None = None
    """MSS option in our SYN, bytes."""
    effective: int | None = None
    """Effective MSS of a real connection (TCP_MAXSEG / TCP_INFO tcpi_snd_mss), bytes: the
    data a full segment carries, so 12 bytes below the MSS option once TCP timestamps are
    on (RFC 7323 §3.2; RFC 6691 §2)."""
    timestamps: bool | None = None
    """Whether that connection agreed on TCP timestamps (TCP_INFO tcpi_options); None
    when not measured."""
    syn_ack_options: tuple[str, ...] = ()
    """The other options of the SYN/ACK, in order ("sack-permitted", "wscale=7", ...)."""
    probe_id: int | None = None
    """Id of the SYN probe that got the SYN/ACK (evidence for findings)."""
    transfer: TransferObservation | None = None

    def __post_init__(self) -> None:
        if self.family not in IP_HEADER:
            raise UsageError(f"IP family must be 4 or 6, not {self.family!r}")
        for name in ("server_announced", "client_announced", "effective"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65535:
                raise UsageError(f"{name} MSS {value} outside 1..65535")

    @property
    def combined(self) -> int | None:
        """The MSS segments will carry: the smallest of announced and effective values."""
        return combine_mss(self.server_announced, self.client_announced, self.effective)

    @property
    def effective_option(self) -> int | None:
        """`effective` as an MSS option value: plus the 12 bytes of the timestamp option
        when timestamps are on, so it compares with announced MSS values and with
        path MTU - 40 (IPv4) / - 60 (IPv6)."""
        if self.effective is None:
            return None
        return self.effective + (TIMESTAMPS_SPACE if self.timestamps else 0)

    @property
    def verdict(self) -> TransferVerdict | None:
        return None if self.transfer is None else classify_transfer(self.transfer)
