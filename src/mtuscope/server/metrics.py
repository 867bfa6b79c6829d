"""`/metrics` for Prometheus: each path's newest figures, agents' last contact, ingest counts.

Layer: server/. A custom collector reads the store at scrape time (one query
over the paths' newest results), so several server processes on one database
all show the same gauges; only `mtuscope_results_ingested_total` is counted per
process. No token: the page names agents and targets, not results' contents.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select

from mtuscope.store.database import Store
from mtuscope.store.models import Agent, PathState, Result, Target


class StoreCollector(Collector):
    """Gauges from the newest result of every path (target, agent, flow 0)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["agent", "target", "family", "direction"]
        pmtu = GaugeMetricFamily(
            "mtuscope_path_mtu_bytes", "Path MTU of the newest exact search", labels=labels
        )
        mss = GaugeMetricFamily(
            "mtuscope_mss_bytes",
            "MSS: announced by the target as it arrived (from_target), used toward it (to_target)",
            labels=["agent", "target", "direction"],
        )
        probes = GaugeMetricFamily(
            "mtuscope_test_probes", "Probes the newest test sent", labels=["agent", "target"]
        )
        seconds = GaugeMetricFamily(
            "mtuscope_test_seconds", "Seconds the newest test took", labels=["agent", "target"]
        )
        errors = GaugeMetricFamily(
            "mtuscope_path_error",
            "1 when the newest test found an error-severity problem",
            labels=["agent", "target"],
        )
        contact = GaugeMetricFamily(
            "mtuscope_agent_last_contact_seconds",
            "Unix time of the agent's last contact",
            labels=["agent"],
        )
        with self.store.session() as s:
            rows = s.execute(
                select(
                    Agent.name,
                    Target.host,
                    Target.port,
                    Result.family,
                    Result.exact,
                    Result.pmtu,
                    Result.pmtu_reverse,
                    Result.mss_announced,
                    Result.mss_effective,
                    Result.probes_sent,
                    Result.seconds,
                    Result.worst,
                )
                .select_from(PathState)
                .join(Result, Result.id == PathState.latest_id)
                .join(Agent, Agent.id == PathState.agent_id)
                .join(Target, Target.id == PathState.target_id)
                .where(PathState.flow == 0)
            ).tuples()
            for name, host, port, fam, exact, fwd, rev, ann, eff, sent, secs, worst in rows:
                target = host if port is None else f"{host}:{port}"
                family = str(fam)
                if exact and fwd is not None:
                    pmtu.add_metric([name, target, family, "forward"], fwd)
                if rev is not None:
                    pmtu.add_metric([name, target, family, "reverse"], rev)
                if ann is not None:
                    mss.add_metric([name, target, "from_target"], ann)
                if eff is not None:
                    mss.add_metric([name, target, "to_target"], eff)
                probes.add_metric([name, target], sent)
                seconds.add_metric([name, target], secs)
                errors.add_metric([name, target], 1.0 if worst == "error" else 0.0)
            for name, last in s.execute(select(Agent.name, Agent.last_contact_ms)).tuples():
                if last is not None:
                    contact.add_metric([name], last / 1000)
        yield from (pmtu, mss, probes, seconds, errors, contact)


class Metrics:
    """The server's registry: the store's gauges and this process's counters."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store))
        self.ingested = Counter(
            "mtuscope_results_ingested",
            "Results stored by this server process (duplicates not counted)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
