"""The path view's graph: several agents' newest `path` reports to one target, merged.

Layer: server/ (pure: report dicts in, a `PathGraph` out; no I/O). Nodes are
keyed by address, so the hops two agents share are one node; a hop that did
not answer (`*`) is its own node per agent and flow. Every link carries the
MTU of the hop it leads to (`hops[].mtu`: the largest size that reached that
hop). The drops come from the report's `mtu_drops[]` when present, else its
`mtu_drop`: the link from `after_hop` to `at_hop` is the drop link, with the
likely encapsulations, and a silent drop (or a `pmtud-blackhole` finding at
that hop) is a black hole. The clamping hop is where an `mss-rewritten`
finding's facts place it (an address or a hop); a rewrite found end to end
(two-ended, no hop) is marked on the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AGENT = "agent"
HOP = "hop"
UNKNOWN = "unknown"
TARGET = "target"


@dataclass(slots=True)
class Clamp:
    """An MSS rewrite placed on a node: before and after, in which direction."""

    before: int | None
    after: int | None
    direction: str | None
    agent: str


@dataclass(slots=True)
class Node:
    """One box of the graph."""

    key: str
    kind: str
    """`agent`, `hop`, `unknown` (`*`) or `target`."""
    label: str
    layer: int = 0
    """Column: the largest TTL a path reached it at, the last for the target, and for an
    agent the column just before its nearest first hop (an agent on a router of another
    agent's path stands beside that router, not at the far left)."""
    order: int = 0
    """Row within the column (first seen first)."""
    agents: set[str] = field(default_factory=set)
    clamps: list[Clamp] = field(default_factory=list)


@dataclass(slots=True)
class Link:
    """One link between two nodes, as the paths through it saw it."""

    source: str
    target: str
    mtus: set[int] = field(default_factory=set)
    """The MTUs of the hop it leads to, over the paths through it (one, normally)."""
    agents: set[str] = field(default_factory=set)
    seen: dict[int, set[str]] = field(default_factory=dict)
    """MTU -> the agents (and flows) that saw it on this link."""
    drop: bool = False
    silent: bool = False
    from_mtu: int | None = None
    to_mtu: int | None = None
    encapsulations: list[str] = field(default_factory=list)
    reached: bool = True
    """False for the dashed last link of a trace that did not reach the target."""


@dataclass(slots=True)
class PathGraph:
    """The merged graph."""

    nodes: dict[str, Node] = field(default_factory=dict)
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def link(self, source: str, target: str) -> Link:
        key = (source, target)
        if key not in self.links:
            self.links[key] = Link(source=source, target=target)
        return self.links[key]

    def node(self, key: str, kind: str, label: str, layer: int) -> Node:
        found = self.nodes.get(key)
        if found is None:
            found = self.nodes[key] = Node(key=key, kind=kind, label=label, layer=layer)
        else:
            found.layer = max(found.layer, layer)
        return found


@dataclass(frozen=True, slots=True)
class AgentPath:
    """One agent's newest report (of one flow) to the target."""

    agent: str
    flow: int
    report: dict[str, Any]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _drops(report: dict[str, Any]) -> list[dict[str, Any]]:
    many = report.get("mtu_drops")
    if isinstance(many, list) and many:
        return [d for d in many if isinstance(d, dict)]
    one = report.get("mtu_drop")
    return [one] if isinstance(one, dict) else []


def _labels(encaps: Any) -> list[str]:
    if not isinstance(encaps, list):
        return []
    return [str(e.get("label")) if isinstance(e, dict) else str(e) for e in encaps]


def _findings(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found = report.get("findings")
    if not isinstance(found, list):
        return []
    return [f for f in found if isinstance(f, dict) and f.get("kind") == kind]


def _facts(finding: dict[str, Any]) -> dict[str, Any]:
    facts = finding.get("facts")
    return facts if isinstance(facts, dict) else {}


def _first_int(value: Any) -> int | None:
    """A hop fact as an int: `2`, or the first of `"2 or 3"`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        head = value.split()[0] if value.split() else ""
        return int(head) if head.isdigit() else None
    return None


def merge(paths: list[AgentPath]) -> PathGraph:
    """One graph of every agent's path (see the module's docstring)."""
    graph = PathGraph()
    target_key: str | None = None
    for p in paths:
        where = p.report.get("target")
        address = where.get("address") if isinstance(where, dict) else None
        if isinstance(address, str):
            target_key = target_key or f"addr:{address}"
    target_key = target_key or "target"
    target_label = target_key.removeprefix("addr:")
    for p in paths:
        _add_path(graph, p, target_key, target_label)
    last = max((n.layer for n in graph.nodes.values() if n.kind != TARGET), default=0) + 1
    for n in graph.nodes.values():
        if n.kind == TARGET:
            n.layer = last
    for n in graph.nodes.values():
        if n.kind == AGENT:
            firsts = [graph.nodes[t].layer for (s, t) in graph.links if s == n.key]
            n.layer = max(0, min(firsts, default=1) - 1)
    columns: dict[int, int] = {}
    for n in graph.nodes.values():  # insertion order: agents and their hops as first seen
        n.order = columns.get(n.layer, 0)
        columns[n.layer] = n.order + 1
    return graph


def _add_path(graph: PathGraph, p: AgentPath, target_key: str, target_label: str) -> None:
    who = p.agent if p.flow == 0 else f"{p.agent} (flow {p.flow})"
    source = f"agent:{p.agent}"
    graph.node(source, AGENT, p.agent, 0).agents.add(p.agent)
    listed = p.report.get("hops")
    hops = [h for h in listed if isinstance(h, dict)] if isinstance(listed, list) else []
    keys: dict[int, str] = {0: source}
    previous = source
    reached = False
    for h in sorted(hops, key=lambda h: _int(h.get("ttl")) or 0):
        ttl = _int(h.get("ttl")) or 0
        address = h.get("address")
        if isinstance(address, str) and f"addr:{address}" == target_key:
            key, kind, label = target_key, TARGET, target_label
            reached = True
        elif isinstance(address, str):
            key, kind, label = f"addr:{address}", HOP, address
        else:
            key, kind, label = f"unknown:{p.agent}:{p.flow}:{ttl}", UNKNOWN, "*"
        graph.node(key, kind, label, ttl).agents.add(p.agent)
        keys[ttl] = key
        link = graph.link(previous, key)
        link.agents.add(who)
        mtu = _int(h.get("mtu"))
        if mtu is not None:
            link.mtus.add(mtu)
            link.seen.setdefault(mtu, set()).add(who)
        previous = key
        if reached:
            break
    graph.node(target_key, TARGET, target_label, 0).agents.add(p.agent)
    if not reached:
        link = graph.link(previous, target_key)
        link.agents.add(who)
        pmtu = _int(p.report.get("pmtu"))
        if hops:
            link.reached = False  # the trace stopped short: the rest of the way is unknown
        elif pmtu is not None:
            link.mtus.add(pmtu)  # no trace: one link, end to end
            link.seen.setdefault(pmtu, set()).add(who)
    _mark_drops(graph, p, keys)
    _mark_clamps(graph, p, keys, target_key)


def _mark_drops(graph: PathGraph, p: AgentPath, keys: dict[int, str]) -> None:
    blackholes = _findings(p.report, "pmtud-blackhole")
    blackhole_hops = {_first_int(_facts(f).get("hop")) for f in blackholes}
    for drop in _drops(p.report):
        after, at = _int(drop.get("after_hop")), _int(drop.get("at_hop"))
        if after is None or at is None or after not in keys or at not in keys:
            graph.notes.append(
                f"{p.agent}: MTU drops to {drop.get('to_mtu')} after hop {after}, "
                "at a hop the trace did not record"
            )
            continue
        link = graph.links.get((keys[after], keys[at]))
        if link is None:
            continue
        link.drop = True
        link.silent = link.silent or drop.get("silent") is True or at in blackhole_hops
        link.from_mtu = _int(drop.get("from_mtu"))
        link.to_mtu = _int(drop.get("to_mtu"))
        for label in _labels(drop.get("likely_encapsulation")):
            if label not in link.encapsulations:
                link.encapsulations.append(label)


def _mark_clamps(graph: PathGraph, p: AgentPath, keys: dict[int, str], target_key: str) -> None:
    for f in _findings(p.report, "mss-rewritten"):
        facts = _facts(f)
        clamp = Clamp(
            before=_int(facts.get("original_mss")),
            after=_int(facts.get("mss")),
            direction=facts.get("direction") if isinstance(facts.get("direction"), str) else None,
            agent=p.agent,
        )
        address = facts.get("address")
        hop = _first_int(facts.get("hop"))
        if isinstance(address, str) and f"addr:{address}" in graph.nodes:
            key = f"addr:{address}"
        elif hop is not None and hop in keys:
            key = keys[hop]
        else:
            key = target_key  # measured end to end: somewhere on the way
        node = graph.nodes[key]
        if not any(
            (c.before, c.after, c.direction) == (clamp.before, clamp.after, clamp.direction)
            for c in node.clamps
        ):
            node.clamps.append(clamp)
