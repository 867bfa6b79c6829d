"""What the kernel knows about a real TCP connection: TCP_MAXSEG, TCP_INFO, a small download.

Layer: active/transport (an edge): opens one ordinary TCP connection (no
privilege needed), reads the kernel's view of it, and optionally downloads a
bounded number of bytes to tell "handshake works, transfer stalls" (a PMTU
black hole on the way back) from a transfer that completes. The download first
sends what makes the server talk (an HTTP GET, a TLS ClientHello: built in
wire/, chosen by jobs/probe.py); a server that ends its answer (a FIN, or a TLS
first flight that came whole) is done, not stalled. It concludes nothing
itself: active/mss.py classifies.

`struct tcp_info` (<linux/tcp.h>) is read by fixed offsets; the layout only
grows at its end, so these have held since Linux 2.6:

    offset  field              meaning here
     0      u8  tcpi_state
     5      u8  tcpi_options    TCPI_OPT_TIMESTAMPS 1, _SACK 2, _WSCALE 4
    16      u32 tcpi_snd_mss    MSS we send with (the peer's MSS, less options)
    20      u32 tcpi_rcv_mss    MSS guessed from the segments the peer sent
    60      u32 tcpi_pmtu       path MTU the kernel uses for this connection
    84      u32 tcpi_advmss     MSS we announced (less 12 once timestamps are on)
   100      u32 tcpi_total_retrans

`TCP_MAXSEG` read on a connected socket is the current send MSS (mss_cache:
the peer's MSS option, bounded by our path MTU, less the timestamp option).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.active.mss import Direction, MssObservation, RequestKind, TransferObservation
from mtuscope.active.probe import IPAddress
from mtuscope.active.transport.linux import TCP_INFO, TCP_MAXSEG
from mtuscope.active.transport.route import raise_if_no_route
from mtuscope.errors import Malformed, ProbeError, UsageError
from mtuscope.wire.tcp_options import TIMESTAMPS_SPACE, TcpOptions
from mtuscope.wire.tls import tls_flight

_TCP_INFO_LEN = 104
_TCPI_OPTIONS = 5
_TCPI_SND_MSS = 16
_TCPI_RCV_MSS = 20
_TCPI_PMTU = 60
_TCPI_ADVMSS = 84
_TCPI_TOTAL_RETRANS = 100
_CHUNK = 65536
_TCPI_OPT_TIMESTAMPS = 1
_TLS_FLIGHT_MAX = 1 << 20
"""A TLS first flight longer than this (certificate chains are some KB) is not read as one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpInfo:
    """The fields of Linux `struct tcp_info` mtuscope reads (all sizes in bytes)."""

    snd_mss: int
    rcv_mss: int
    pmtu: int
    advmss: int
    total_retrans: int
    options: int
    """tcpi_options bits: 1 timestamps, 2 SACK, 4 window scale."""

    @property
    def announced_mss(self) -> int:
        """The MSS option our SYN carried. Once the peer agreed to timestamps,
        Linux keeps `advmss` 12 bytes lower (the aligned option, RFC 7323 §3.2)."""
        return self.advmss + (TIMESTAMPS_SPACE if self.options & _TCPI_OPT_TIMESTAMPS else 0)


def decode_tcp_info(data: bytes) -> TcpInfo:
    """Decode the bytes `getsockopt(IPPROTO_TCP, TCP_INFO)` returned.

    Args:
        data: at least 104 bytes of struct tcp_info, native byte order.

    Returns:
        The fields.

    Raises:
        UsageError: fewer than 104 bytes (a kernel older than 2.6.2).
    """
    if len(data) < _TCP_INFO_LEN:
        raise UsageError(f"struct tcp_info of {len(data)} bytes: need {_TCP_INFO_LEN}")

    def u32(offset: int) -> int:
        return int(struct.unpack_from("=I", data, offset)[0])

    return TcpInfo(
        snd_mss=u32(_TCPI_SND_MSS),
        rcv_mss=u32(_TCPI_RCV_MSS),
        pmtu=u32(_TCPI_PMTU),
        advmss=u32(_TCPI_ADVMSS),
        total_retrans=u32(_TCPI_TOTAL_RETRANS),
        options=data[_TCPI_OPTIONS],
    )


def read_tcp_info(sock: socket.socket) -> TcpInfo:
    """Read and decode `getsockopt(IPPROTO_TCP, TCP_INFO)` of a TCP socket.

    Args:
        sock: a TCP socket (connected, for the values to mean anything).

    Returns:
        The fields.

    Raises:
        OSError: the kernel refused the getsockopt.
        UsageError: the kernel returned fewer than 104 bytes.
    """
    return decode_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_LEN))


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelTcpFacts:
    """One real connection toward `dst`, as the local kernel saw it."""

    dst: IPAddress
    port: int
    maxseg: int
    """TCP_MAXSEG right after the handshake, bytes."""
    info: TcpInfo
    """TCP_INFO right after the handshake."""
    info_after: TcpInfo | None
    """TCP_INFO after the download (None without one)."""
    transfer: TransferObservation | None
    """The bounded download, if one was asked for."""

    def observation(
        self, *, syn_ack: TcpOptions | None = None, probe_id: int | None = None
    ) -> MssObservation:
        """These facts as an `MssObservation` (active/mss.py), optionally with a SYN probe's.

        Args:
            syn_ack: the options of the SYN/ACK that answered a raw SYN probe
                (its reply's `Reply.tcp_options`), for `server_announced`.
            probe_id: that probe's id.

        Returns:
            The observation; `effective` is TCP_MAXSEG.
        """
        names: list[str] = []
        if syn_ack is not None:
            if syn_ack.sack_permitted:
                names.append("sack-permitted")
            if syn_ack.timestamps is not None:
                names.append("timestamps")
            if syn_ack.wscale is not None:
                names.append(f"wscale={syn_ack.wscale}")
        return MssObservation(
            family=self.dst.version,
            port=self.port,
            server_announced=syn_ack.mss if syn_ack is not None else None,
            client_announced=self.info.announced_mss or None,
            effective=self.maxseg or None,
            timestamps=bool(self.info.options & _TCPI_OPT_TIMESTAMPS),
            syn_ack_options=tuple(names),
            probe_id=probe_id,
            transfer=self.transfer,
        )


def connect_tcp(address: IPAddress, port: int, timeout: float, *, failed: str) -> socket.socket:
    """An ordinary TCP socket connected to `address` port `port` (the caller closes it).

    Args:
        address: the peer.
        port: its TCP port.
        timeout: seconds the handshake may take; the socket keeps it.
        failed: what the caller calls a failed handshake, the start of the error message.

    Raises:
        NoRoute: no route to `address`.
        ProbeError: the handshake failed (refused or timed out): "`failed`: why".
    """
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(address), port))
    except OSError as exc:
        sock.close()
        raise_if_no_route(exc, address)
        raise ProbeError(f"{failed}: {exc.strerror or 'timed out'}") from exc
    return sock


def tcp_mss(
    dst: IPAddress | str,
    port: int,
    *,
    timeout: float = 3.0,
    download: int = 0,
    request: bytes = b"",
    request_kind: RequestKind | None = None,
    stall: float = 2.0,
    max_seconds: float = 10.0,
) -> KernelTcpFacts:
    """Connect to `dst`:`port` with an ordinary socket and read the kernel's MSS facts.

    With `download` > 0, send `request` (an HTTP GET, a TLS ClientHello, the
    user's bytes, or nothing) and read up to `download` bytes, watching for a
    stall: no byte for `stall` seconds while bytes are still due. The server is
    done early, not stalled, when it closes in order (a FIN after its
    response) or, for a TLS ClientHello, when its first flight came whole and
    it waits for our next one. The whole call ends after `max_seconds` at most.

    Args:
        dst: the server.
        port: its TCP port.
        timeout: seconds the handshake may take.
        download: bytes to read after the handshake (0: none).
        request: bytes to send first (0 bytes: send nothing).
        request_kind: what `request` is (None: USER when there are bytes, else NONE).
        stall: seconds without progress that count as a stall.
        max_seconds: hard cap on the download, seconds.

    Returns:
        The facts; `transfer` is None without a download.

    Raises:
        NoRoute: no route to `dst`.
        ProbeError: the handshake failed (refused or timed out) - without a
            download there is nothing else to report.
        UsageError: bad arguments.
    """
    address = ip_address(dst) if isinstance(dst, str) else dst
    if not 1 <= port <= 65535 or download < 0 or not (timeout > 0 and stall > 0):
        raise UsageError("need a port 1..65535, download >= 0, positive timeout and stall")
    if request_kind is None:
        request_kind = RequestKind.USER if request else RequestKind.NONE
    failed = f"TCP handshake with {address} port {port} failed"
    with connect_tcp(address, port, timeout, failed=failed) as sock:
        maxseg = sock.getsockopt(socket.IPPROTO_TCP, TCP_MAXSEG)
        info = read_tcp_info(sock)
        if download == 0:
            return KernelTcpFacts(
                dst=address, port=port, maxseg=maxseg, info=info, info_after=None, transfer=None
            )
        got = _download(
            sock,
            download,
            request,
            tls=request_kind is RequestKind.TLS_CLIENT_HELLO,
            stall=stall,
            max_seconds=max_seconds,
        )
        after = read_tcp_info(sock)
    # tcpi_rcv_mss starts at a guess (at most 536, tcp_initialize_rcv_mss) and
    # grows to the largest segment received: below the guess, the bytes bound it.
    largest = got.largest if got.largest > info.rcv_mss else min(got.largest, got.moved)
    transfer = TransferObservation(
        direction=Direction.DOWNLOAD,
        handshake_ok=True,
        expected_bytes=download,
        moved_bytes=got.moved,
        stalled=got.stalled,
        largest_segment=largest or None,
        request=request_kind,
        server_done=got.server_done,
    )
    return KernelTcpFacts(
        dst=address, port=port, maxseg=maxseg, info=info, info_after=after, transfer=transfer
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Download:
    moved: int
    """Bytes received."""
    stalled: bool
    """No byte for the stall timeout while bytes were due."""
    server_done: bool
    """The server ended first: a FIN, or a whole TLS first flight."""
    largest: int
    """The largest tcpi_rcv_mss read during the download (0: none read)."""


def _download(
    sock: socket.socket, want: int, request: bytes, *, tls: bool, stall: float, max_seconds: float
) -> _Download:
    """Send `request`, then read up to `want` bytes until done, stalled or out of time."""
    end = time.monotonic() + max_seconds
    moved = 0
    largest = 0
    head = bytearray()  # the first bytes of a TLS answer (its first flight), for the framing

    def result(*, stalled: bool = False, done: bool = False) -> _Download:
        return _Download(moved=moved, stalled=stalled, server_done=done, largest=largest)

    try:
        if request:
            sock.settimeout(stall)
            sock.sendall(request)
        while moved < want:
            left = end - time.monotonic()
            if left <= 0:
                return result(stalled=True)
            sock.settimeout(min(stall, left))
            try:
                chunk = sock.recv(min(_CHUNK, want - moved))
            except TimeoutError:
                # Quiet: a TLS server whose flight came whole waits for us; else bytes are due.
                return result(done=True) if tls and _flight_whole(head) else result(stalled=True)
            if not chunk:
                return result(done=True)  # an orderly FIN: the server ended its response
            moved += len(chunk)
            if tls and len(head) < _TLS_FLIGHT_MAX:
                head += chunk[: _TLS_FLIGHT_MAX - len(head)]
            largest = max(largest, read_tcp_info(sock).rcv_mss)
    except OSError:
        return result()  # reset or closed: a SHORT transfer, not a stall
    return result()


def _flight_whole(head: bytes | bytearray) -> bool:
    if len(head) >= _TLS_FLIGHT_MAX:
        return False
    try:
        return tls_flight(bytes(head)).waits_for_client
    except Malformed:
        return False  # not TLS: we cannot tell the end, so the quiet is a stall
