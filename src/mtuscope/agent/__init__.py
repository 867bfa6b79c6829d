"""The monitoring agent: pulls its schedule, runs the tests through jobs/, spools and pushes.

Layer: edge, beside cli/ and server/ (`agent -> jobs -> ...`, `agent -> report`).
`spool.py` keeps every result until the server acknowledged it, `client.py`
speaks the HTTP API, `schedule.py` turns the schedule into job options,
`runner.py` runs the rounds, `capture.py` records the test of an anchor with
tcpdump, `main.py` is what `mtuscope agent` calls.
"""

from __future__ import annotations

from mtuscope.agent.client import AgentClient, Refused, ServerAway
from mtuscope.agent.runner import Agent
from mtuscope.agent.schedule import ScheduledTest
from mtuscope.agent.spool import Spool

__all__ = ["Agent", "AgentClient", "Refused", "ScheduledTest", "ServerAway", "Spool"]
