"""From one path's results, round after round, to the events worth telling someone.

Layer: server/, but pure: figures in, events out; no store, no clock (`at_ms`
comes with the result). `Tracker` holds, for one target, agent and flow, the
figures last confirmed and the votes of the last Y rounds; `observe` adds one
result and returns the events it confirms.

Debounce: a figure moves when X of the last Y rounds agree on the new value
(`ServerConfig.confirm_rounds` of `window_rounds`), so a path that flaps does
not storm. Which rounds vote:
- the path MTU: only exact searches (stop `converged` or `blackhole`); a search
  cut short (budget, time, interrupted) or one that found nothing to measure
  (icmp-filtered, unreachable, hop-limit) never votes, so it can never raise
  `pmtu-changed`;
- MSS, where the drop is, and the findings: every conclusive round, i.e. all
  but those cut short (budget, time, interrupted, error), whose silence proves
  nothing.
A first value is confirmed quietly, except findings: a problem present from the
first rounds is raised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mtuscope.store.figures import Figures

CUT_SHORT = frozenset({"budget", "time", "interrupted", "error"})
"""Stop reasons after which a round says nothing about what it did not see."""
NO_VOTE = None
"""A round that does not vote on a figure."""
FIGURES = ("pmtu", "pmtu_reverse", "mss", "drop")
KIND_OF = {
    "pmtu": "pmtu-changed",
    "pmtu_reverse": "pmtu-changed",
    "mss": "mss-changed",
    "drop": "mtu-drop-moved",
}


@dataclass(frozen=True, slots=True)
class Change:
    """An event to store and deliver (DESIGN.md's kinds)."""

    kind: str
    before: Any
    after: Any
    summary: str


def votes(fig: Figures) -> dict[str, Any]:
    """What one result votes for: a value per figure (NO_VOTE for none), and its findings."""
    conclusive = fig.stop_reason not in CUT_SHORT
    out: dict[str, Any] = dict.fromkeys(FIGURES, NO_VOTE)
    if fig.exact and fig.pmtu is not None:
        out["pmtu"] = fig.pmtu
    if conclusive and fig.pmtu_reverse is not None:
        out["pmtu_reverse"] = fig.pmtu_reverse
    if conclusive:
        # An MSS not measured this round (no port, no connection) is no vote for "none".
        out["mss"] = fig.mss_announced if fig.mss_announced is not None else fig.mss_effective
        out["drop"] = (
            None
            if fig.drop_to_mtu is None
            else {"address": fig.drop_address, "hop": fig.drop_ttl, "to_mtu": fig.drop_to_mtu}
        )
        out["findings"] = sorted(fig.finding_kinds)
    else:
        out["drop"] = NO_VOTE
        out["findings"] = NO_VOTE
    out["voted_drop"] = conclusive
    return out


@dataclass(slots=True)
class Tracker:
    """The confirmed figures and recent votes of one path (target, agent, flow)."""

    confirm: int
    window: int
    confirmed: dict[str, Any] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, confirmed: str, recent: str, *, confirm: int, window: int) -> Tracker:
        """A tracker from its stored JSON (`path_state.confirmed`, `.window`)."""
        return cls(confirm, window, json.loads(confirmed), json.loads(recent))

    def dump(self) -> tuple[str, str]:
        """The JSON to store: confirmed figures, recent votes."""
        return json.dumps(self.confirmed, sort_keys=True), json.dumps(self.recent)

    def observe(self, fig: Figures, *, where: str) -> list[Change]:
        """Add one result; the changes it confirms.

        Args:
            fig: the result's figures.
            where: "agent -> target" for the summaries.
        """
        self.recent = [*self.recent, votes(fig)][-self.window :]
        changes: list[Change] = []
        for name in FIGURES:
            changes.extend(self._figure(name, where))
        changes.extend(self._findings(where))
        return changes

    def _agreed(self, name: str) -> tuple[bool, Any]:
        """Whether X of the last Y rounds voted for one value of `name`, and which."""
        counts: dict[Any, int] = {}
        values: dict[Any, Any] = {}
        for vote in self.recent:
            if name == "drop" and not vote["voted_drop"]:
                continue
            if name != "drop" and vote[name] is NO_VOTE:
                continue
            key = _key(vote[name])
            counts[key] = counts.get(key, 0) + 1
            values[key] = vote[name]
        for key, n in counts.items():
            if n >= self.confirm:
                return True, values[key]
        return False, None

    def _figure(self, name: str, where: str) -> list[Change]:
        agreed, value = self._agreed(name)
        if not agreed:
            return []
        known = name in self.confirmed
        before = self.confirmed.get(name)
        if known and before == value:
            return []
        self.confirmed[name] = value
        if not known:
            return []
        return [
            Change(
                KIND_OF[name],
                _tag(name, before),
                _tag(name, value),
                _say(name, before, value, where),
            )
        ]

    def _findings(self, where: str) -> list[Change]:
        lists = [v["findings"] for v in self.recent if v["findings"] is not NO_VOTE]
        if len(lists) < self.confirm:
            return []
        seen: dict[str, int] = {}
        for kinds in lists:
            for k in kinds:
                seen[k] = seen.get(k, 0) + 1
        have = set(self.confirmed.get("findings", []))
        raised = sorted(k for k, n in seen.items() if n >= self.confirm and k not in have)
        absent = {k: sum(1 for kinds in lists if k not in kinds) for k in have}
        cleared = sorted(k for k, n in absent.items() if n >= self.confirm)
        if not raised and not cleared:
            return []
        self.confirmed["findings"] = sorted((have | set(raised)) - set(cleared))
        return [
            *(Change("finding-raised", None, k, f"{where}: {k} raised") for k in raised),
            *(Change("finding-cleared", k, None, f"{where}: {k} cleared") for k in cleared),
        ]


def _key(value: Any) -> Any:
    """A hashable key equal for equal votes (a vote is a number, None, or a drop's dict
    of scalars): cheaper than JSON text, and the ingest of a fleet counts votes often."""
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


def _tag(name: str, value: Any) -> Any:
    return {"direction": "reverse", "pmtu": value} if name == "pmtu_reverse" else value


def _say(name: str, before: Any, after: Any, where: str) -> str:
    if name == "pmtu":
        return f"{where}: path MTU {before} -> {after} bytes"
    if name == "pmtu_reverse":
        return f"{where}: reverse path MTU {before} -> {after} bytes"
    if name == "mss":
        return f"{where}: MSS {before} -> {after} bytes"
    return f"{where}: the MTU drop moved from {_where_drop(before)} to {_where_drop(after)}"


def _where_drop(drop: Mapping[str, Any] | None) -> str:
    if drop is None:
        return "nowhere"
    return f"hop {drop['hop']} ({drop['address']}, {drop['to_mtu']} bytes)"
