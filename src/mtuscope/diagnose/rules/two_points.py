"""The scaffold of the two-capture-point checks: changes grouped over connections.

Layer: diagnose/. Pure; no I/O. A capture of a hundred thousand clamped
connections gives one `mss-rewritten` finding, not a hundred thousand: each
compare check groups the changes of its kind by a key (direction and values),
counts the connections in `facts` and cites frames at both points from the first
few. The per-connection detail stays in the report's `matches[].changes`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.diagnose.rules.evidence import change_evidence
from mtuscope.diagnose.rules.rule import Facts, Rule
from mtuscope.passive.compare import DIRECTIONS, Change, CompareResult, ConnectionComparison

MAX_EVIDENCE_CONNECTIONS = 3
"""Connections whose frames are cited as evidence in one aggregated finding."""
MAX_CHANGES_CITED = 2
"""Changes of one connection cited in one aggregated finding."""

UP = DIRECTIONS[0]
"""The direction of the client's packets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeGroup:
    """The changes of one kind that share a key, with the connections they belong to."""

    key: tuple[Hashable, ...]
    """(direction, ...values the kind groups by)."""
    items: tuple[tuple[ConnectionComparison, Change], ...]
    """Each change with its connection, in the order of the comparison."""

    @property
    def direction(self) -> str:
        return str(self.key[0])

    @property
    def changes(self) -> list[Change]:
        return [c for _, c in self.items]

    @property
    def connections(self) -> list[ConnectionComparison]:
        """The distinct connections, in order of their first change."""
        return list({id(m): m for m, _ in self.items}.values())

    def evidence(self, result: CompareResult) -> tuple[Evidence, ...]:
        """Frames at both points of the first changes of the first connections."""
        out: list[Evidence] = []
        for m in self.connections[:MAX_EVIDENCE_CONNECTIONS]:
            for c in [c for mm, c in self.items if mm is m][:MAX_CHANGES_CITED]:
                out.extend(change_evidence(result, c))
        return tuple(out)

    def finding(
        self,
        rule: Rule,
        result: CompareResult,
        *,
        summary: str,
        facts: Facts,
        platform: str | None,
        reference: str | None = None,
        severity: Severity | None = None,
        evidence: tuple[Evidence, ...] | None = None,
    ) -> Finding:
        """The group's finding: cited by its first connections' frames (unless `evidence`
        says more), filed under the first connection."""
        return rule.finding(
            summary=summary,
            evidence=self.evidence(result) if evidence is None else evidence,
            facts=facts,
            platform=platform,
            reference=reference,
            severity=severity,
            connection=self.connections[0].a.id,
        )

    def facts(self) -> Facts:
        """The facts every compare finding starts with."""
        conns = self.connections
        return {"direction": self.direction, "connections": len(conns), "family": conns[0].a.family}

    def connections_text(self) -> str:
        n = len(self.connections)
        return f"{n} connection{'s' if n != 1 else ''}"


def change_groups(
    result: CompareResult,
    kind: str,
    key: Callable[[ConnectionComparison, Change], tuple[Hashable, ...]],
) -> Iterator[ChangeGroup]:
    """The changes of `kind`, grouped by `key(connection, change)` (which starts with the
    direction), in order of each group's first change."""
    groups: dict[tuple[Hashable, ...], list[tuple[ConnectionComparison, Change]]] = {}
    for m in result.matches:
        for c in m.changes:
            if c.kind == kind:
                groups.setdefault(key(m, c), []).append((m, c))
    for k, items in groups.items():
        yield ChangeGroup(key=k, items=tuple(items))


def upstream(m: ConnectionComparison, direction: str) -> str:
    """The point a packet of `direction` passes first ("a" when nothing tells)."""
    client = m.client_side or "a"
    if direction == UP:
        return client
    return "b" if client == "a" else "a"


def point_name(result: CompareResult, point: str) -> str:
    """ "A (a.pcap)" or "B (b.pcap)"."""
    return f"A ({result.capture_a})" if point == "a" else f"B ({result.capture_b})"


def one_point_sizes(group: ChangeGroup, seen: str | None) -> list[int]:
    """The payload sizes of changes seen at one point only (`seen`: "a", else B's)."""
    return [int(v) for c in group.changes for v in (c.a if seen == "a" else c.b,) if v]


def one_point_facts(
    group: ChangeGroup, counts: Callable[[ConnectionComparison], tuple[int, int]]
) -> Facts:
    """Where segments were seen, the largest, and how many (`counts`: per connection,
    (client->server, server->client))."""
    seen = group.key[1]
    point = seen if isinstance(seen, str) else None
    index = 0 if group.direction == UP else 1
    total = sum(counts(m)[index] for m in group.connections)
    return {
        "seen_at": point,
        "segment": max(one_point_sizes(group, point), default=None),
        "count": total,
    }


def one_point_text(group: ChangeGroup) -> tuple[str, str, str]:
    """(the point the segments were seen at, the other point's letter, their sizes)."""
    seen = str(group.key[1] or "a")
    other = "B" if seen == "a" else "A"
    sizes = sorted(set(one_point_sizes(group, seen)))
    if not sizes:
        shown = "?"
    elif len(sizes) <= 3:
        shown = "/".join(str(s) for s in sizes)
    else:
        shown = f"{sizes[0]}..{sizes[-1]}"
    return seen, other, shown


def key_value(value: Hashable) -> int | str | None:
    """A value of a group key (a change's value at A or B), as a fact."""
    return value if value is None or isinstance(value, int | str) else str(value)
