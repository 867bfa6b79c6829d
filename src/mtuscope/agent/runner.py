"""The agent: pull the schedule, run its tests through jobs/, spool and push the results.

Layer: agent/. Three kinds of thread:

- the scheduler (`Agent.run`, the caller's thread) pulls the schedule every
  min(30 s, the shortest interval) (`--pull-seconds` to choose), starts each
  test's round when it is due and instant tests at once, and never starts two
  rounds toward one destination address at a time: that is the agent's
  per-destination limit, and inside a round the probing core paces each run
  (`PathOptions.rate`);
- workers (a thread pool: the probing jobs block) run a round: one
  `jobs.probe.probe` per flow id 0..flows-1, each with its fixed source port
  (`PathOptions.flow`), one after the other. Each test's result gets its
  UUID4 when it ends and is written to the spool before anything is sent.
  When a test finds a black hole or a clamp that changed (a `pmtud-blackhole`
  or `mss-rewritten` finding this flow did not have last round, or another
  MSS), the test runs once more under tcpdump (`agent.capture`) and that
  second result carries the capture's `analyze` report;
- the sender posts the spool's oldest results in batches (`client.BATCH`) and
  deletes those the server lists as accepted or duplicate; while the server is
  away it waits with jittered exponential backoff and the spool grows.

A 401 or 403 for the token stops everything with one line (`Refused`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mtuscope.agent.capture import CaptureUnavailable, recording
from mtuscope.agent.client import BATCH, AgentClient, Backoff, Refused, Rejected, ServerAway
from mtuscope.agent.schedule import ScheduledTest
from mtuscope.agent.spool import Spool
from mtuscope.errors import MtuscopeError, UsageError
from mtuscope.jobs.inputs import resolve
from mtuscope.jobs.probe import ProbeOptions, probe
from mtuscope.report.serialize import to_dict

log = logging.getLogger("mtuscope.agent")

PULL_SECONDS = 30.0
"""The longest wait between two pulls of the schedule."""
WORKERS = 32
"""Rounds running at once (each toward its own destination)."""
ANCHORS = frozenset({"pmtud-blackhole", "mss-rewritten"})
"""Findings that make the agent capture the test once more."""


def now_iso() -> str:
    """The time now, ISO 8601 UTC to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_probe(opts: ProbeOptions) -> dict[str, Any]:
    """One test: the `path` JSON report exactly as `mtuscope probe --json` prints it."""
    return to_dict(probe(opts))


class Agent:
    """One agent process: its schedule, its rounds, its spool and its sender."""

    def __init__(
        self,
        client: AgentClient,
        spool: Spool,
        *,
        name: str | None = None,
        pull_seconds: float | None = None,
        workers: int = WORKERS,
        capture: bool = True,
        run_test: Callable[[ProbeOptions], dict[str, Any]] = run_probe,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if pull_seconds is not None and not pull_seconds >= 1:
            raise UsageError("--pull-seconds: want at least 1")
        if workers < 1:
            raise UsageError("--workers: want at least 1")
        self.client = client
        self.spool = spool
        self.name = name
        self.pull_seconds = pull_seconds
        self.workers = workers
        self.capture = capture
        self._run_test = run_test
        self._clock = clock
        self._cv = threading.Condition()
        self._stopping = threading.Event()
        self._fatal: Refused | None = None
        self._tests: dict[int, ScheduledTest] = {}
        self._dest: dict[int, str] = {}
        self._due: dict[int, float] = {}
        self._instant: list[int] = []
        self._busy: set[str] = set()
        self._last: dict[tuple[int, int], tuple[frozenset[str], int | None]] = {}
        self._pull_backoff = Backoff()
        self._away_since: float | None = None
        self.rounds = 0
        """Rounds started so far."""

    # -- the scheduler -------------------------------------------------------------------

    def run(self, stop: threading.Event, *, max_seconds: float | None = None) -> None:
        """Run until `stop` is set or `max_seconds` have passed; then finish the rounds in
        progress (each bounded by its test's --max-seconds) and try one last send.

        Raises:
            Refused: the server refused the token (after everything has stopped).
        """
        started = self._clock()
        end = started + max_seconds if max_seconds is not None else float("inf")
        sender = threading.Thread(target=self._send_loop, name="mtuscope-sender", daemon=True)
        sender.start()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mtuscope-test")
        next_pull = started
        try:
            while not stop.is_set() and self._fatal is None:
                now = self._clock()
                if now >= end:
                    break
                if now >= next_pull:
                    next_pull = now + self._pull(now)
                    continue
                self._dispatch(now, pool)
                with self._cv:
                    wake = min([next_pull, end, *self._idle_due()])
                    self._cv.wait(timeout=min(1.0, max(0.01, wake - self._clock())))
        finally:
            self._stopping.set()
            pool.shutdown(wait=True)
            with self._cv:
                self._cv.notify_all()
            sender.join(timeout=30)
        if self._fatal is not None:
            raise self._fatal

    def _pull(self, now: float) -> float:
        """Pull the schedule; seconds until the next pull."""
        try:
            schedule = self.client.schedule()
        except ServerAway as exc:
            if self._away_since is None:
                self._away_since = now
                log.warning("server away (%s); testing on with the last schedule", exc)
            return min(self._interval(), self._pull_backoff.next_delay())
        except Refused as exc:
            self._fatal = exc
            return 0.0
        if self._away_since is not None:
            log.info("server back after %.0f s", now - self._away_since)
            self._away_since = None
        self._pull_backoff.reset()
        me = schedule.get("agent")
        if self.name is not None and me != self.name:
            self._fatal = Refused(f"the token is agent {me!r}'s, not {self.name!r}'s (--name)")
            return 0.0
        self._update(schedule, now)
        return self._interval()

    def _interval(self) -> float:
        if self.pull_seconds is not None:
            return self.pull_seconds
        shortest = min((t.interval_s for t in self._tests.values()), default=PULL_SECONDS)
        return min(PULL_SECONDS, float(shortest))

    def _update(self, schedule: dict[str, Any], now: float) -> None:
        tests: dict[int, ScheduledTest] = {}
        for entry in schedule.get("tests") or []:
            try:
                test = ScheduledTest.of(entry)
            except UsageError as exc:
                log.warning("schedule: %s (skipped)", exc)
                continue
            tests[test.target] = test
        with self._cv:
            for tid, test in tests.items():
                if self._tests.get(tid) != test:
                    self._dest[tid] = _destination(test)
                    if tid not in self._tests:
                        log.info(
                            "target %d: %s %s port %s every %d s, %d flow(s)",
                            tid, test.kind, test.host, test.port, test.interval_s, test.flows,
                        )  # fmt: skip
                self._due.setdefault(tid, now)
            for tid in set(self._tests) - set(tests):
                log.info("target %d: no longer in the schedule", tid)
                self._due.pop(tid, None)
                self._dest.pop(tid, None)
                for key in [k for k in self._last if k[0] == tid]:
                    del self._last[key]
            self._tests = tests
            for entry in schedule.get("instant") or []:
                asked = entry.get("target") if isinstance(entry, dict) else None
                if isinstance(asked, int) and asked in tests and asked not in self._instant:
                    self._instant.append(asked)

    def _idle_due(self) -> list[float]:
        """Due times of tests whose destination is free (under the lock)."""
        return [d for t, d in self._due.items() if self._dest.get(t) not in self._busy]

    def _dispatch(self, now: float, pool: ThreadPoolExecutor) -> None:
        """Start the instant tests and the due rounds whose destination is free."""
        with self._cv:
            for tid in list(self._instant):
                test, dest = self._tests.get(tid), self._dest.get(tid)
                if test is None or dest is None:
                    self._instant.remove(tid)
                elif dest not in self._busy:
                    self._instant.remove(tid)
                    self._due[tid] = max(self._due.get(tid, now), now + test.interval_s)
                    self._start(test, dest, pool, instant=True)
            for tid, due in sorted(self._due.items(), key=lambda kv: kv[1]):
                dest = self._dest[tid]
                if due > now or dest in self._busy:
                    continue
                test = self._tests[tid]
                following = due + test.interval_s
                self._due[tid] = following if following > now else now + test.interval_s
                self._start(test, dest, pool, instant=False)

    def _start(
        self, test: ScheduledTest, dest: str, pool: ThreadPoolExecutor, *, instant: bool
    ) -> None:
        self._busy.add(dest)
        self.rounds += 1
        pool.submit(self._round, test, dest, instant)

    # -- a round ---------------------------------------------------------------------------

    def _round(self, test: ScheduledTest, dest: str, instant: bool) -> None:
        try:
            for flow in range(test.flows):
                if self._stopping.is_set():
                    break
                self._one(test, flow, instant=instant)
        except Exception as exc:  # a worker must never die silently
            log.error("target %d: %s: %s", test.target, type(exc).__name__, exc)
        finally:
            with self._cv:
                self._busy.discard(dest)
                self._cv.notify_all()

    def _one(self, test: ScheduledTest, flow: int, *, instant: bool) -> None:
        report = self._test(test, flow)
        if report is None:
            return
        self._keep(test, flow, report, None, why="instant" if instant else "round")
        if self.capture and self._anchor(test, flow, report) and not self._stopping.is_set():
            again, capture = self._captured(test, flow, report)
            if again is not None:
                self._keep(test, flow, again, capture, why="capture")

    def _test(self, test: ScheduledTest, flow: int) -> dict[str, Any] | None:
        try:
            return self._run_test(test.options(flow))
        except MtuscopeError as exc:
            log.warning("target %d flow %d: %s", test.target, flow, exc)
            return None

    def _keep(
        self,
        test: ScheduledTest,
        flow: int,
        report: dict[str, Any],
        capture: dict[str, Any] | None,
        *,
        why: str,
    ) -> None:
        """Give the result its id and spool it (before any send); wake the sender."""
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "target": test.target,
            "at": now_iso(),
            "flow": flow,
            "report": report,
        }
        if capture is not None:
            body["capture"] = capture
        self.spool.put(body)
        kinds = ",".join(f.get("kind", "?") for f in report.get("findings") or []) or "-"
        log.info(
            "spooled %s target %d flow %d (%s): pmtu %s stop %s findings %s%s",
            body["id"], test.target, flow, why, report.get("pmtu"), report.get("stop_reason"),
            kinds, " +capture" if capture is not None else "",
        )  # fmt: skip
        with self._cv:
            self._cv.notify_all()

    def _anchor(self, test: ScheduledTest, flow: int, report: dict[str, Any]) -> bool:
        """Whether this result found a black hole or a clamp anew, or another MSS."""
        kinds = frozenset(f.get("kind") for f in report.get("findings") or []) & ANCHORS
        mss = _mss(report)
        with self._cv:
            before = self._last.get((test.target, flow))
            self._last[test.target, flow] = (kinds, mss)
        if before is None:
            return bool(kinds)
        old_kinds, old_mss = before
        return bool(kinds - old_kinds) or (
            mss is not None and old_mss is not None and mss != old_mss
        )

    def _captured(
        self, test: ScheduledTest, flow: int, report: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The test once more under tcpdump: its report and the capture's."""
        address = str((report.get("target") or {}).get("address") or "")
        if not address:
            return None, None
        try:
            with recording(address) as rec:
                again = self._test(test, flow)
        except CaptureUnavailable as exc:
            log.warning("target %d flow %d: %s", test.target, flow, exc)
            return None, None
        for note in rec.notes:
            log.warning("target %d flow %d: %s", test.target, flow, note)
        if again is not None and rec.report is not None:
            log.info(
                "target %d flow %d: captured %s packets toward %s",
                test.target, flow, rec.packets, address,
            )  # fmt: skip
        return again, rec.report

    # -- the sender ------------------------------------------------------------------------

    def _send_loop(self) -> None:
        backoff = Backoff()
        limit = BATCH
        away_since: float | None = None
        while self._fatal is None:
            batch = self.spool.oldest(limit)
            if not batch:
                if self._stopping.is_set():
                    return
                with self._cv:
                    self._cv.wait(timeout=1.0)
                continue
            try:
                posted = self.client.post([s.body for s in batch])
            except ServerAway as exc:
                if self._stopping.is_set():
                    log.warning("server away at exit: %d result(s) stay spooled", len(self.spool))
                    return
                if away_since is None:
                    away_since = self._clock()
                    log.warning("server away (%s): results stay spooled", exc)
                self._stopping.wait(backoff.next_delay())  # new results do not cut it short
                continue
            except Rejected as exc:
                if exc.index is None or not 0 <= exc.index < len(batch):
                    limit = max(1, len(batch) // 2)
                    if len(batch) == 1:
                        self._drop(batch[0].id, batch[0].target, str(exc))
                    continue
                bad = batch[exc.index]
                self._drop(bad.id, bad.target, str(exc))
                continue
            except Refused as exc:
                self._fatal = exc
                with self._cv:
                    self._cv.notify_all()
                return
            backoff.reset()
            limit = BATCH
            if away_since is not None:
                log.info("server back: sending %d spooled result(s)", len(self.spool))
                away_since = None
            done = self.spool.ack([*posted.accepted, *posted.duplicates])
            if done == 0:  # an answer naming none of the batch: never loop on it at full speed
                log.warning("the server acknowledged none of %d result(s); retrying", len(batch))
                self._stopping.wait(backoff.next_delay())
                if self._stopping.is_set():
                    return
                continue
            log.info(
                "sent %d result(s): %d accepted, %d duplicate(s); %d spooled",
                done, len(posted.accepted), len(posted.duplicates), len(self.spool),
            )  # fmt: skip

    def _drop(self, rid: str, target: int, why: str) -> None:
        self.spool.ack([rid])
        log.error("result %s of target %d refused by the server for good, dropped: %s",
                  rid, target, why)  # fmt: skip


def _mss(report: dict[str, Any]) -> int | None:
    mss = report.get("mss") or {}
    value = mss.get("server_announced")
    if value is None:
        value = mss.get("effective")
    return value if isinstance(value, int) else None


def _destination(test: ScheduledTest) -> str:
    """The address a test probes (its per-destination key); the host itself if it does
    not resolve now (the test will say why when it runs)."""
    try:
        return str(resolve(test.host, test.family))
    except MtuscopeError:
        return test.host.lower()
