"""Whose MSS is it? The one reading of an MSS that probe, responder-check and analyze share.

Layer: diagnose/. Pure; no I/O. An MSS that limits a sender has one of three owners:

- the path: the MSS equals path MTU - IP/TCP headers (40 IPv4, 60 IPv6; RFC 9293
  §3.7.1) for a path MTU the same run or capture proves. That is exactly right, and
  nothing on the hosts should be raised: the path is the limit.
- a clamp: a middlebox rewrote the MSS option on the way (`adjust-mss`, TCPMSS).
  Proven when a second vantage point saw another value (the responder, a router's
  quote of our SYN); likely when the value is a configured convention
  (`calc.conventions`: 1360, 1380, 1452) that no stack announces by default.
- the host itself (the server, or in a capture the client): what it announced
  arrived unchanged (proven by the responder), or, from one end, nothing shows a clamp.

Kernel values are compared as MSS option values: TCP_MAXSEG / tcpi_snd_mss is the data
a full segment carries, 12 bytes less once TCP timestamps are on (RFC 7323 §3.2,
RFC 6691 §2), so 1348 on a 1400-byte path is the 1360 the path allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.probe import ProbeKind, ProbeRecord
from mtuscope.active.quote_diff import MSS_FIELD, packet_fields
from mtuscope.calc.advice import TCP_IP_HEADERS
from mtuscope.calc.conventions import Convention, conventions_for_mss
from mtuscope.diagnose.observations import PathObservations


class MssOwner(StrEnum):
    """Who set the MSS that limits a sender."""

    SERVER = "server"
    """The server's own announcement."""
    CLIENT = "client"
    """The client's own announcement (captures and the responder's view)."""
    CLAMP = "clamp"
    """A middlebox on the way rewrote it."""
    PATH = "path"
    """The path MTU: MSS = path MTU - headers, all the path allows."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotedMss:
    """What routers' quotes of our SYN probes show of its MSS option."""

    sent: int
    """The MSS our SYN carried."""
    seen: int
    """The MSS in the quote of `hop` (the last hop that quoted it)."""
    hop: int
    """TTL of that quote."""
    address: IPv4Address | IPv6Address | None
    changed_at: int | None
    """TTL of the first hop whose quote shows another MSS; None when none did."""
    probe_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MssReading:
    """One MSS that limits a sender, and whose it is."""

    mss: int
    """The MSS compared, as an option value (kernel values plus the timestamp option)."""
    owner: MssOwner
    proven: bool
    """True when a second vantage point shows it (the responder, a router's quote),
    False when read from one end (the value, the conventions)."""
    path_allows: int | None
    """Path MTU - headers for a path MTU the same run or capture proves, else None."""
    path_mtu: int | None
    conventions: tuple[Convention, ...]
    """Configured conventions that set this MSS (Cisco tunnel 1360, ASA 1380, PPPoE 1452)."""
    quoted: QuotedMss | None = None


def reading(
    mss: int,
    *,
    family: int,
    path_mtu: int | None,
    host: MssOwner,
    announced: int | None = None,
    rewritten: bool | None = None,
    quoted: QuotedMss | None = None,
) -> MssReading:
    """Whose MSS `mss` is.

    Args:
        mss: the MSS limiting the sender, as an option value.
        family: 4 or 6.
        path_mtu: a path MTU the same measurement proves (None when unknown).
        host: the owner when the value is the announcer's own (SERVER or CLIENT).
        announced: what the announcer's handshake carried, when known.
        rewritten: True/False when a second vantage point compared what was sent with
            what arrived; None from one end.
        quoted: routers' quotes of our SYN, when a probe run has them.

    Returns:
        The reading.
    """
    allows = path_mtu - TCP_IP_HEADERS[family] if path_mtu is not None else None
    conventions = conventions_for_mss(mss, family)

    def made(owner: MssOwner, proven: bool) -> MssReading:
        return MssReading(
            mss=mss,
            owner=owner,
            proven=proven,
            path_allows=allows,
            path_mtu=path_mtu,
            conventions=conventions,
            quoted=quoted,
        )

    if allows is not None and mss == allows:
        return made(MssOwner.PATH, True)
    if announced is not None and announced > mss:
        # The sender sends less than was announced: its kernel's path MTU (learned from a
        # too-big message, or its own interface) limits it, not the announcer.
        return made(MssOwner.PATH, False)
    if rewritten is not None:
        return made(MssOwner.CLAMP if rewritten else host, True)
    if quoted is not None and quoted.changed_at is not None:
        return made(MssOwner.CLAMP, True)
    return made(MssOwner.CLAMP if conventions else host, False)


def quoted_mss(records: tuple[ProbeRecord, ...]) -> QuotedMss | None:
    """What routers' quotes of our TCP SYN probes show of the MSS option: the quote of the
    farthest hop that quoted one, and the first hop whose quote shows another value.

    A clamp rewrites the MSS of the SYNs it forwards (RFC 4459 §3.2); a Linux router
    quotes a packet as it arrived, so the rewrite shows in the quotes of the hops after it.
    """
    quotes: list[tuple[int, int, int, ProbeRecord]] = []
    for r in records:
        reply = r.reply
        if r.probe.kind is not ProbeKind.TCP_SYN or reply is None:
            continue
        if reply.quote is None or reply.sent is None:
            continue
        sent = packet_fields(reply.sent).get(MSS_FIELD)
        seen = packet_fields(reply.quote).get(MSS_FIELD)
        if isinstance(sent, int) and isinstance(seen, int):
            quotes.append((r.probe.ttl, sent, seen, r))
    if not quotes:
        return None
    quotes.sort(key=lambda q: (q[0], q[3].probe.id))
    changed = next((ttl for ttl, sent, seen, _ in quotes if seen != sent), None)
    ttl, sent, seen, last = quotes[-1]
    assert last.reply is not None  # kept above
    return QuotedMss(
        sent=sent,
        seen=seen,
        hop=ttl,
        address=last.reply.from_addr,
        changed_at=changed,
        probe_id=last.probe.id,
    )


def path_reading(obs: PathObservations) -> MssReading | None:
    """Whose is the server's MSS that a path run measured (None without one).

    The MSS compared is the kernel's send MSS of the real connection (plus the timestamp
    option), else the MSS option of the SYN/ACK. The path MTU is the exact one the
    probes found, if any."""
    m = obs.mss
    if m is None:
        return None
    mss = m.effective_option if m.effective_option is not None else m.server_announced
    if mss is None:
        return None
    exact = obs.exact
    return reading(
        mss,
        family=obs.family,
        path_mtu=exact.probe.size if exact is not None else None,
        host=MssOwner.SERVER,
        announced=m.server_announced,
        quoted=quoted_mss(obs.records),
    )
