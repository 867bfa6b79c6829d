"""The frozen results of a capture analysis: connections, their endpoints, ICMP, fragments.

Layer: passive/. Pure data; no I/O. report/capture_json.py renders them as the
`capture` report body of DESIGN.md. Times are integer nanoseconds since the
Unix epoch (`*_ts_ns`); sizes are bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl

from mtuscope.capture.table import ENCAP_LABELS, Encap

LARGE_SEGMENT = 500
"""Payload sizes from this many bytes up are listed per direction (`Endpoint.large_sizes`):
enough to judge any path MTU from the IPv4 minimum of 576 up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OversizedSegments:
    """Segments of one direction larger than the peer's MSS (or than a 1500-byte link when
    the MSS is unknown), and whether they look like segmentation-offload artifacts.

    Rule (documented for `offload-artifact`): the segments are an *artifact* of the
    capture point, not real packets on the wire, when
    - an IPv4 total length is 0 (TSO leaves it for the NIC to fill), or
    - the largest is bigger, with its headers, than both 1500 bytes and the MTU the
      receiver implied by its MSS (MSS + 40/60): it could not have reached the
      receiver's link in one piece, so it was merged or not yet split, or
    - the peer acknowledged them and either their TTL is still an initial value
      64/128/255 (captured on the sending host before any router: TSO/GSO) or they are
      at least twice the limit (several segments merged).
    The mechanism is "TSO/GSO" (sending host) when the TTL is initial or the length is
    0, else "GRO/LRO" (receiving host). Otherwise they are real oversized segments.
    """

    limit: int
    """The payload size they exceed, bytes."""
    limit_source: str
    """"peer-mss" (announced, or the RFC 9293 default) or "link-mtu" (1500 minus headers)."""
    count: int
    first_frame: int
    first_size: int
    """Payload of the segment at `first_frame`."""
    largest: int
    """Largest payload among them."""
    largest_frame: int
    largest_ip_len: int
    largest_wirelen: int
    ip_len_zero: int
    """Segments of this direction with IPv4 total length 0."""
    ttl_min: int
    ttl_max: int
    acked: bool
    """The peer's acks cover the first of each oversized size."""
    sender_side: bool
    coalesced: bool
    artifact: bool
    mechanism: str | None
    """"TSO/GSO" (sending host) or "GRO/LRO" (receiving host) when `artifact`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentSize:
    """How often one TCP payload size was sent in one direction."""

    payload: int
    count: int
    first_frame: int
    last_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BlackHole:
    """A large segment retransmitted unchanged and never acknowledged, while smaller ones were."""

    seq_raw: int
    """Raw `tcp.seq` of the stalled segment."""
    size: int
    """Its TCP payload, bytes."""
    packet_size: int
    """Its IP packet size (payload plus IP and TCP headers), bytes."""
    frames: tuple[int, ...]
    """Frames of its retransmissions (at most 16)."""
    retransmissions: int
    acked_size: int
    """Largest payload of this direction that the peer acknowledged, smaller than `size`."""
    mtu_low: int
    """Largest IP packet size known to pass (acked payload plus headers)."""
    mtu_high: int
    """One less than the smallest IP packet size that vanished."""
    recovery_frame: int | None
    """A later, smaller retransmission of the same range (the sender probing a lower MTU)."""
    recovery_size: int | None
    end_frame: int | None
    """The first RST or FIN of the connection after the first retransmission."""
    end: str | None
    """"rst" or "fin"."""
    too_big_seen: bool
    """An ICMP too-big quoting this connection was captured."""
    passed_frame: int | None = None
    """The first earlier segment of this direction at least as big (`passed_size` bytes of
    IP packet) that the peer acknowledged: such packets got through, so the stall is
    loss (an outage), not an MTU problem."""
    passed_size: int | None = None
    within_minimum: bool = False
    """The packet is no larger than the minimum reassembly size (576 IPv4, 1280 IPv6),
    which every path carries; kept only because it exceeds the peer's MSS (an MSS floor)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverBlackHole:
    """A black hole seen from the receiving side: the sender's sequence numbers jumped
    over bytes that never arrived, while its small packets did.

    Rule: a packet of this direction starts at least one full segment (the peer's MSS,
    or the 536/1220 default) beyond the highest sequence end of every packet before it;
    the receiver's cumulative ACK never passes the gap's start; no ICMP too-big quoting
    the connection was captured; no data segment of a full segment's size ever arrived
    from the sender; and a full segment's packet is larger than the minimum MTU. Loss
    repaired later (the receiver's ACK passes the gap) and capture-point drops (the
    stream goes on past them) stay silent.
    """

    seen_from: str
    """Always "receiver"."""
    gap_start_raw: int
    """Raw `tcp.seq` the receiver expected next (the gap's start; its ACK stays here)."""
    seq_raw: int
    """Raw `tcp.seq` of the packet that shows the jump."""
    missing: int
    """Bytes of the gap: sent, never arrived."""
    segment: int
    """The full segment the sender could use (peer MSS or default), bytes of payload."""
    packet_size: int
    """That segment as an IP packet (plus 40/60 header bytes)."""
    largest_arrived: int
    """Largest IP packet of this direction that arrived: the path passes at least this."""
    mtu_low: int
    mtu_high: int
    """One less than `packet_size`."""
    last_in_order_frame: int | None
    """The sequence event (data, SYN, FIN) before the jump."""
    jump_frame: int
    receiver_frame: int | None
    """The receiver's last packet (its ACK still at the gap's start)."""
    receiver_ack_raw: int
    """Raw value of the receiver's highest ACK (at or below the gap's start)."""
    end_frame: int | None
    """The first RST or FIN of the connection after the jump."""
    end: str | None
    too_big_seen: bool
    """Always False (a too-big message rules the finding out)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One side of a TCP connection and what it sent."""

    address: str
    port: int
    mss: int | None
    """MSS option it announced (its SYN or SYN/ACK); None if none or not seen."""
    handshake_frame: int | None
    """Frame of its first SYN (client) or SYN/ACK (server)."""
    handshake_ttl: int | None
    wscale: int | None
    sack_perm: bool
    timestamps: bool
    effective_mss: int | None
    """Largest payload it may send: the peer's MSS (RFC 9293 §3.7.1 default 536, IPv6 1220
    (RFC 8200 §5) when the peer's handshake had no option), lowered by an ICMP too-big
    path MTU quoting its packets; None when the peer's handshake was not captured."""
    max_segment: int
    """Largest TCP payload it sent (0: none)."""
    max_segment_frame: int | None
    packets: int
    bytes: int
    retransmissions: int
    resets: int
    fins: int
    path_mtu: int | None
    """Smallest MTU of ICMP too-big messages quoting its packets."""
    oversized: OversizedSegments | None
    large_sizes: tuple[SegmentSize, ...]
    """Payload sizes of at least `LARGE_SEGMENT` bytes it sent, ascending."""
    floor_segments: int
    """536-byte segments it sent while the peer announced an MSS below 536."""
    floor_first_frame: int | None
    black_holes: tuple[BlackHole | ReceiverBlackHole, ...]
    """Stalls seen from the sender (`BlackHole`) or receiver (`ReceiverBlackHole`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    id: int
    """1-based, in order of the connection's first frame."""
    family: int
    client: Endpoint
    server: Endpoint
    client_rule: str
    """How the client was chosen: "syn" (sender of the first SYN), "syn-ack" (receiver
    of the first SYN/ACK), or "port" (no handshake: the lower port is the server; equal
    ports: the sender of the first packet is the client)."""
    encapsulation: tuple[str, ...]
    """`Encap` names seen around this connection's packets."""
    encap_overhead: tuple[int, ...]
    """Distinct byte counts between the link header and the inner IP header."""
    first_frame: int
    last_frame: int
    first_ts_ns: int
    last_ts_ns: int
    too_big_frames: tuple[int, ...]

    @property
    def retransmissions(self) -> int:
        return self.client.retransmissions + self.server.retransmissions

    @property
    def resets(self) -> int:
        return self.client.resets + self.server.resets

    @property
    def path_mtu(self) -> int | None:
        mtus = [m for m in (self.client.path_mtu, self.server.path_mtu) if m is not None]
        return min(mtus) if mtus else None

    def endpoints(self) -> tuple[tuple[str, Endpoint, Endpoint], ...]:
        """(role, sender, receiver) for both directions, client first."""
        return (("client", self.client, self.server), ("server", self.server, self.client))


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpTooBig:
    """An ICMP fragmentation-needed (RFC 1191) or ICMPv6 packet-too-big (RFC 8201) message."""

    capture: str
    frame: int
    ts_ns: int
    family: int
    sender: str
    """Outer source address: the router (or host) that could not forward."""
    mtu: int
    ttl: int
    initial_ttl_guess: int
    """Smallest of 32, 64, 128, 255 not below `ttl`."""
    sender_hint: str
    """What that initial TTL suggests about the sender's software."""
    quoted_src: str | None
    quoted_dst: str | None
    quoted_proto: int | None
    quoted_sport: int | None
    quoted_dport: int | None
    quoted_len: int | None
    """The quoted packet's own IP length: the size that did not fit."""
    connection: int | None
    """Id of the connection whose packet is quoted."""
    direction: str | None
    """"client" or "server": which endpoint sent the quoted packet."""
    problem: str | None
    """Why the MTU is useless, if it is ("zero", "below-minimum", "not-smaller")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FragmentFlow:
    """IP fragments between two addresses for one protocol."""

    family: int
    src: str
    dst: str
    proto: int
    fragments: int
    datagrams: int
    """First fragments (offset 0) seen."""
    df_fragments: int
    """IPv4 fragments with DF set (contradictory; IPv6 has no DF)."""
    min_len: int
    max_len: int
    first_frame: int
    last_frame: int


Details = Mapping[
    tuple[int, str], tuple[OversizedSegments | None, tuple[BlackHole | ReceiverBlackHole, ...]]
]
"""(connection id, "client" | "server") -> (oversized segments, black holes) of that side;
only sides with either are present."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SynOptionsChange:
    """A SYN or SYN/ACK retransmitted (same ISN) with other options than the first one."""

    connection: int
    """Id of the connection."""
    role: str
    """"client" or "server": the side that sent both."""
    syn_ack: bool
    """A SYN/ACK (else a SYN)."""
    first_frame: int
    """The first SYN (or SYN/ACK) of that side, whose options the connection keeps."""
    frame: int
    """The retransmission with other options."""
    changes: tuple[tuple[str, int | bool | None, int | bool | None], ...]
    """(option, value in `first_frame`, value in `frame`) for each option that differs:
    "mss" and "wscale" (None: absent), "sack" and "tsopt" (present or not)."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CaptureAnalysis:
    """Everything passive/ found in one capture.

    Connections are held as columns (`table`, one polars row per connection shaped
    like the JSON `connections[]` items, and `details` for the rare nested parts):
    `notable` holds Python objects only for the connections a finding may be about,
    and `connections` builds all of them on demand.
    """

    capture: str
    frames: int
    ip_packets: int
    tcp_packets: int
    decode_issues: int
    first_id: int = 1
    """Id of the first connection (ids are consecutive from it, in `table` order)."""
    table: pl.DataFrame
    """One row per connection in id order; columns as in the JSON `connections[]`
    (`oversized` and `black_holes` are null there: see `details`)."""
    details: Details
    notable: tuple[Connection, ...]
    """Connections with a black hole, an ICMP too-big message, a path MTU, segments over
    the limit or 536-byte floor segments, by id (rules about what many connections share,
    such as a small MSS, read `table` instead)."""
    icmp_too_big: tuple[IcmpTooBig, ...]
    fragments: tuple[FragmentFlow, ...]
    syn_changes: tuple[SynOptionsChange, ...] = ()
    """SYNs and SYN/ACKs retransmitted with other options, by frame (`passive.handshakes`)."""

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every connection as a Python object, by id (built on each call: prefer
        `notable` or `table` for large captures)."""
        return tuple(self.connection_from_row(r, self.details) for r in self.table.to_dicts())

    @property
    def connection_count(self) -> int:
        return self.table.height

    def connection(self, conn_id: int) -> Connection:
        """One connection as a Python object.

        Args:
            conn_id: its id (1-based).

        Raises:
            IndexError: no such connection.
        """
        at = conn_id - self.first_id
        if not 0 <= at < self.table.height:
            raise IndexError(f"no connection {conn_id}")
        return self.connection_from_row(self.table.row(at, named=True), self.details)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CaptureAnalysis):
            return NotImplemented
        return (
            self.capture == other.capture
            and self.frames == other.frames
            and self.ip_packets == other.ip_packets
            and self.tcp_packets == other.tcp_packets
            and self.decode_issues == other.decode_issues
            and self.syn_changes == other.syn_changes
            and self.connections == other.connections
            and self.notable == other.notable
            and self.icmp_too_big == other.icmp_too_big
            and self.fragments == other.fragments
        )

    __hash__ = None  # type: ignore[assignment]

    @staticmethod
    def connection_from_row(row: Mapping[str, Any], details: Details) -> Connection:
        """A `Connection` from one `table` row (as `to_dicts` gives it) and the details.

        Args:
            row: the table row.
            details: `CaptureAnalysis.details`.

        Returns:
            The connection.
        """
        sides: dict[str, Endpoint] = {}
        for role in ("client", "server"):
            e = dict(row[role])
            over, holes = details.get((row["id"], role), (None, ()))
            e["oversized"] = over
            e["black_holes"] = holes
            e["large_sizes"] = tuple(SegmentSize(**s) for s in e["large_sizes"])
            sides[role] = Endpoint(**e)
        return Connection(
            id=row["id"],
            family=row["family"],
            client=sides["client"],
            server=sides["server"],
            client_rule=row["client_rule"],
            encapsulation=tuple(row["encapsulation"]),
            encap_overhead=tuple(row["encap_overhead"]),
            first_frame=row["first_frame"],
            last_frame=row["last_frame"],
            first_ts_ns=row["first_ts_ns"],
            last_ts_ns=row["last_ts_ns"],
            too_big_frames=tuple(row["too_big_frames"]),
        )


@lru_cache(maxsize=1024)
def encap_names(bits: int) -> tuple[str, ...]:
    """The labels (`table.ENCAP_LABELS`) of the `Encap` bits set in `bits`, in bit order."""
    return tuple(ENCAP_LABELS[e] for e in Encap if bits & e.value)
