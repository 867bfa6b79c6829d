"""What a comparison of two capture points found: typed, frozen results.

Layer: passive/. Pure data; no I/O. `passive.compare.compare_captures` fills
them; diagnose/ turns them into findings and report/ renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtuscope.passive.compare_match import ClockOffset

DIRECTIONS = ("client->server", "server->client")
"""The two directions of a connection, in the order per-direction pairs use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One difference between the two points for a matched connection."""

    kind: str
    """Finding kind: mss-rewritten, isn-rewritten, tcp-option-changed,
    lost-between-points or offload-artifact."""
    direction: str
    """"client->server" or "server->client"."""
    field: str
    """Wireshark field name of what differs ("tcp.options.mss_val", "tcp.len")."""
    a: int | str | None
    """Value at A (None: not seen / option absent)."""
    b: int | str | None
    """Value at B."""
    frames_a: tuple[int, ...]
    frames_b: tuple[int, ...]
    delta: int | None = None
    """B minus A (ISN: mod 2**32; offload: pieces at the other point)."""
    seen_at: str | None = None
    """For segments: "a" or "b", the point that saw the segment."""
    note: str = ""
    ip_len: int | None = None
    """For segments: the IP length of the packet that carried it, in bytes."""
    rel_seq: int | None = None
    """For segments: its sequence number relative to the direction's ISN."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Handshake:
    """A connection as one point saw it."""

    id: int
    family: int
    client: str
    client_port: int
    server: str
    server_port: int
    first_frame: int
    syn_frame: int | None
    synack_frame: int | None
    mss: tuple[int | None, int | None]
    """MSS announced (client in SYN, server in SYN/ACK); None: no option or not seen."""
    isn: tuple[int | None, int | None]
    wscale: tuple[int | None, int | None]
    sack_perm: tuple[bool | None, bool | None]
    timestamps: tuple[bool | None, bool | None]
    ttl: tuple[int | None, int | None]
    """TTL of the SYN and of the SYN/ACK at this point."""
    handshake_gap_ns: int | None
    """SYN -> SYN/ACK time at this point."""
    data_segments: tuple[int, int]
    max_segment: tuple[int, int]
    """Largest payload seen per direction."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionComparison:
    a: Handshake
    b: Handshake
    score: float
    """Pairing score (see `compare_match.match_connections`)."""
    client_side: str | None
    """"a" or "b": the point nearer the client; None when nothing tells."""
    nat: tuple[str, ...]
    """What was translated: "client address", "client port", "server address", "server port"."""
    changes: tuple[Change, ...]
    lost: tuple[int, int]
    """Segment transmissions missing at the other point, per direction."""
    offloaded: tuple[int, int]
    """Segments coalesced by a capturing host, per direction."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpSeen:
    capture: str
    point: str
    """"a" or "b"."""
    frame: int
    sender: str
    mtu: int
    ttl: int
    initial_ttl_guess: int
    connection: int | None
    """Connection id at this point of the quoted flow."""
    quoted_len: int | None = None
    """IP total length of the packet it quotes (the packet refused), if captured."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareResult:
    capture_a: str
    capture_b: str
    offset: ClockOffset
    matches: tuple[ConnectionComparison, ...]
    only_a: tuple[Handshake, ...]
    only_b: tuple[Handshake, ...]
    icmp: tuple[IcmpSeen, ...]
    connections: tuple[int, int]
