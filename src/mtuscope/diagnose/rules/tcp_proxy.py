"""Rule `tcp-proxy`: a middlebox terminates TCP and answers for the destination.

Layer: diagnose/. Pure functions of a `TcpEnd` (the SYN/ACK and two ICMP echoes,
active/end_check.py), which `middlebox`, `probe` and `trace` fill alike, and of a
`TwoEndedObservation`; no I/O.

A proxy answers the client's SYN itself, from the destination's address, and
opens its own connection onward. The signs, each cited as evidence:

- an ICMP echo with the TTL at which TCP was answered expires on the way (the
  router that says so is on the proxy's hop): TCP ended where the routed path
  goes on;
- the SYN/ACK arrives from fewer hops than the destination's own echo reply
  (hops back = the sender's likely initial TTL less the TTL on arrival,
  passive/ttl.py), or with another initial TTL (another stack);
- two capture points: both initial sequence numbers (the client's and the
  server's) differ between the points, or the client's does and so does its port:
  each side talks to the proxy, not to the other;
- two-ended: the SYN that reaches the responder has another initial sequence
  number and another source port or hop count than the one sent: a new
  connection, not the client's (an ISN-rewriting firewall keeps the connection
  and its port: that is `isn-rewritten`).

The finding is a warning: what TCP probes measure beyond the proxy (the MSS the
server announces, the path MTU the SYNs see) is the proxy's, not the server's.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.active.end_check import TcpEnd
from mtuscope.active.middlebox_result import MiddleboxResult
from mtuscope.active.probe import ReplyKind
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import CONNECTION_PROBE, ttl_field
from mtuscope.diagnose.rules.phrases import FactsIn, fact_int
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.diagnose.rules.two_points import UP, change_groups
from mtuscope.passive.compare import CompareResult, ConnectionComparison
from mtuscope.passive.ttl import initial_ttl_guess

KIND = "tcp-proxy"
REFERENCE = "RFC 3135 §2.1 (split-connection proxies); RFC 9293 §3.5"


def _hops(n: int) -> str:
    return f"{n} hop{'' if n == 1 else 's'}"


def hops_back(ttl: int) -> int:
    """Routers a packet crossed to reach us: its likely initial TTL less the TTL seen."""
    return initial_ttl_guess(ttl) - ttl


def _signs(end: TcpEnd) -> tuple[list[Evidence], list[str], Facts]:
    """The evidence that a proxy answered, the words for each sign, and the facts
    (empty evidence: no sign)."""
    tcp, same, far = end.tcp, end.same_ttl, end.far
    ttl_word = "TTL" if end.dst.version == 4 else "hop limit"
    evidence: list[Evidence] = []
    words: list[str] = []
    facts: Facts = {"family": end.dst.version, "hop": tcp.probe_ttl}
    if same is not None and same.kind is ReplyKind.TIME_EXCEEDED:
        evidence.append(
            Evidence(
                field="icmp.type" if end.dst.version == 4 else "icmpv6.type",
                observed="time-exceeded",
                expected="echo-reply",
                hop=tcp.probe_ttl,
                probe=same.probe_id,
                note=f"an ICMP echo with {ttl_word} {tcp.probe_ttl} expired at {same.address}, "
                f"where a SYN with {ttl_word} {tcp.probe_ttl} (probe {tcp.probe_id}) was "
                "already answered",
            )
        )
        words.append(f"an echo with the same {ttl_word} {tcp.probe_ttl} expired at {same.address}")
        facts["address"] = str(same.address) if same.address is not None else None
    if (
        far is not None
        and far.kind is ReplyKind.ECHO_REPLY
        and far.reply_ttl is not None
        and tcp.reply_ttl is not None
    ):
        tcp_hops, echo_hops = hops_back(tcp.reply_ttl), hops_back(far.reply_ttl)
        tcp_init, echo_init = initial_ttl_guess(tcp.reply_ttl), initial_ttl_guess(far.reply_ttl)
        facts.update(syn_ack_hops=tcp_hops, destination_hops=echo_hops)
        if tcp_hops < echo_hops or tcp_init != echo_init:
            evidence.append(
                Evidence(
                    field=ttl_field(end.dst.version),
                    observed=tcp.reply_ttl,
                    expected=far.reply_ttl,
                    hop=tcp.probe_ttl,
                    probe=tcp.probe_id,
                    note=f"the SYN/ACK arrived with {ttl_word} {tcp.reply_ttl} (likely "
                    f"started at {tcp_init}: {_hops(tcp_hops)} back); {end.dst}'s echo reply "
                    f"(probe {far.probe_id}) with {far.reply_ttl} (likely started at "
                    f"{echo_init}: {_hops(echo_hops)} back)",
                )
            )
        if tcp_hops < echo_hops:
            words.append(
                f"the SYN/ACK comes from {_hops(tcp_hops)} back, the destination's echo reply "
                f"from {echo_hops}"
            )
        elif tcp_init != echo_init:
            words.append(
                f"the SYN/ACK starts at {ttl_word} {tcp_init}, the destination's echo reply "
                f"at {echo_init} (another stack)"
            )
    return evidence, words, facts


def proxy_answers(end: TcpEnd | None) -> bool:
    """Whether the TCP answer shows any sign of coming from a proxy."""
    return end is not None and bool(_signs(end)[0])


def findings_for_end(
    end: TcpEnd | None, *, platform: str | None = None, verb_hint: str | None = None
) -> Iterator[Finding]:
    """The warning for a TCP answer that came from a proxy, whichever verb measured it.

    Args:
        end: the TCP answer and the echoes (None: nothing to check).
        platform: a platform for configuration lines in the advice.
        verb_hint: a few words on what the verb's own figures mean behind a proxy.
    """
    if end is None:
        return
    evidence, words, facts = _signs(end)
    if not evidence:
        return
    where = f"hop {end.tcp.probe_ttl}"
    if facts.get("address"):
        where += f" ({facts['address']})"
    port = f" port {end.dport}" if end.dport is not None else ""
    if verb_hint:
        facts["hint"] = verb_hint
    yield RULE.finding(
        summary=f"A TCP proxy at {where} answers for {end.dst}{port}: " + "; ".join(words),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
    )


def proxied(m: ConnectionComparison) -> bool:
    """Two capture points: one connection at A and another at B, each with its own ISNs."""
    isn = {c.direction for c in m.changes if c.kind == "isn-rewritten"}
    return len(isn) == 2 or (UP in isn and "client port" in m.nat)


def check_compare(result: CompareResult, *, platform: str | None = None) -> Iterator[Finding]:
    """One warning for the connections that a proxy between the points splits in two."""
    for group in change_groups(result, "isn-rewritten", lambda m, c: (UP, proxied(m))):
        if not group.key[1]:
            continue
        first = group.connections[0]
        translated = f"; translated: {', '.join(first.nat)}" if first.nat else ""
        yield group.finding(
            RULE,
            result,
            summary=(
                "A TCP proxy between the capture points splits the connections in two: the "
                "initial sequence numbers differ in both directions between A and B "
                f"({group.connections_text()}{translated})"
            ),
            facts=group.facts(),
            platform=platform,
        )


def check_middlebox(result: MiddleboxResult, *, platform: str | None = None) -> Iterator[Finding]:
    """A TCP proxy answered the walk's SYN for the destination."""
    yield from findings_for_end(result.tcp_end, platform=platform)


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """A TCP proxy answered the path run's SYN probes (probe, trace with TCP probes)."""
    yield from findings_for_end(
        obs.tcp_end,
        platform=platform,
        verb_hint="the hops, the path MTU and the MSS above end at the proxy",
    )


def is_new_connection(obs: TwoEndedObservation) -> bool:
    """Two-ended: the SYN the responder saw is another connection than the one sent
    (another ISN, and another source port or hop count)."""
    sent, seen = obs.sent, obs.seen
    if sent is None or sent.seq == seen.seq:
        return False
    port_changed = obs.local.port != obs.server_peer.port
    back = obs.synack_seen
    hops_differ = back is not None and hops_back(seen.ttl) != hops_back(back.ttl)
    return port_changed or hops_differ


def check_two_ended(
    obs: TwoEndedObservation, direction: str, *, platform: str | None = None
) -> Iterator[Finding]:
    """The responder got its SYN from a box that opened a connection of its own."""
    if direction != UP or not is_new_connection(obs) or obs.sent is None:
        return
    sent, seen = obs.sent, obs.seen
    field = ttl_field(seen.family)
    evidence = [
        Evidence(
            field="tcp.seq_raw",
            observed=seen.seq,
            expected=sent.seq,
            probe=CONNECTION_PROBE,
            note="the SYN's initial sequence number, saved at the responder, captured here",
        ),
        Evidence(
            field="tcp.srcport",
            observed=obs.server_peer.port,
            expected=obs.local.port,
            probe=CONNECTION_PROBE,
            note=f"the responder's peer is {obs.server_peer.address}, we are {obs.local.address}",
        ),
    ]
    hops_up = hops_back(seen.ttl)
    back = obs.synack_seen
    if back is not None and hops_back(back.ttl) != hops_up:
        evidence.append(
            Evidence(
                field=field,
                observed=seen.ttl,
                expected=sent.ttl - hops_back(back.ttl),
                probe=CONNECTION_PROBE,
                note=f"the SYN reached the responder {_hops(hops_up)} after its sender; the "
                f"SYN/ACK reached us {_hops(hops_back(back.ttl))} after its own",
            )
        )
    facts: Facts = {
        "family": seen.family,
        "direction": UP,
        "address": str(obs.server_peer.address),
        "mss": seen.mss,
    }
    yield RULE.finding(
        summary=(
            f"A TCP proxy answers for {obs.target.address} port {obs.target.port}: the "
            f"responder got a new connection from {obs.server_peer.address} port "
            f"{obs.server_peer.port} (initial sequence number {seen.seq}, MSS {seen.mss}), "
            f"not ours from {obs.local.address} port {obs.local.port} ({sent.seq}, MSS "
            f"{sent.mss})"
        ),
        evidence=tuple(evidence),
        facts=facts,
        platform=platform,
    )


def advise(f: FactsIn) -> Advice:
    """Say what the proxy does to the measurements, and where to look next."""
    hop = fact_int(f, "hop")
    where = f" at hop {hop}" if hop else ""
    hint = f.get("hint")
    hint_text = f" ({hint})" if hint else ""
    return (
        f"A box{where} terminates TCP for this destination (a transparent proxy, a SYN-proxying "
        "load balancer or firewall, a WAN optimiser) and opens its own connection onward, "
        f"with its own ISN, MSS and options: what TCP probes see ends there{hint_text}. To "
        "measure the path to the server, probe it with --kind echo or udp, run `mtuscope "
        "responder` behind the proxy, or check the proxy's own MSS and MTU settings for its "
        "connections on both sides.",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
