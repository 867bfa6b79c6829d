"""`mtuscope lab demo`: a lab, a monitoring server and an agent, with one command.

Layer: edge (cli/). It composes what exists, as a newcomer would by hand:
`Lab.up(scenario, listen=True)` (lab/), a real `mtuscope serve` (uvicorn) as a
process of this host with a fresh SQLite store in a state directory and an
admin token made here (MTUSCOPE_ADMIN_TOKEN), an agent and a target enrolled
through the admin API (httpx, as curl would), and a real `mtuscope agent` in
the lab's client namespace. The client namespace has a loopback of its own, so
a `LoopbackRelay` (lab/relay.py) listens on 127.0.0.1:PORT there and relays to
the server: the agent's `--server http://127.0.0.1:PORT` is the same URL the
browser on this host opens. Nothing outside the lab's namespaces is configured;
the agent probes only the scenario's server (its one target).

Once the first result is stored it prints the dashboard URL, the admin token
and how to stop (or one document of kind "lab", verb "demo", with `--json`),
then runs until SIGINT, SIGTERM or SIGHUP (or `--for SECONDS`; 12 hours at
most) and removes everything it made, in order (agents, relays, server, state
directory, lab), also when something failed half-way (the state directory is
kept then: its logs say what happened). `--lower-mtu-after S`
lowers the MTU of the scenario's drop link (or its first router-to-router link)
by 100 bytes once, S seconds after the first result, so that a `pmtu-changed`
event appears; `--two-agents` adds an agent in the first router's namespace
(`lab-r1`, its own relay), whose path the path view merges with the client's.

Exit codes: 0 stopped as asked, 2 bad input, 3 not root or not Linux, or a
part that did not start or died (one line says which, with its log's last line).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mtuscope.cli.demo_processes import Signals, Stop, check_alive, spawn, stop_process, until
from mtuscope.errors import LabError, UsageError

if TYPE_CHECKING:
    from mtuscope.lab import Lab, Scenario

INTERVAL_S = 10
"""The target's interval: the smallest the contract allows."""
FLOWS = 3
"""Flow ids per round (source ports), the server's default."""
PULL_SECONDS = 2.0
"""How often the agent pulls its schedule (the first round starts at the first pull)."""
MOST_SECONDS = 12 * 3600.0
"""The longest a demo runs (the lab listener's own bound)."""
START_SECONDS = 40.0
"""How long the server may take to answer, and the first result to arrive (each)."""
FIRST_RESULT_SECONDS = 120.0
LOWER_BY = 100
"""Bytes `--lower-mtu-after` takes off the drop link's MTU."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What `mtuscope lab demo` was asked."""

    scenario: str
    listen: str
    """HOST:PORT for the server; HOST an IP address of this host."""
    seconds: float | None = None
    """Stop after this long once ready; None: at a signal (at most `MOST_SECONDS`)."""
    state_dir: Path | None = None
    """Where the store and logs go, kept afterwards; None: a temporary directory, removed."""
    lower_mtu_after: float | None = None
    """Seconds after the first result to lower the drop link's MTU; None: never."""
    two_agents: bool = False
    """A second agent in the first router's namespace (the paths merge in the path view)."""
    as_json: bool = False


def run_demo(opts: DemoOptions) -> int:
    """Run the demo until it is stopped; the exit code.

    Raises:
        UsageError: unknown scenario, a bad --listen, --for or --lower-mtu-after.
        LabError: not root or not Linux; a part did not start or died.
    """
    from mtuscope.jobs.inputs import split_host_port
    from mtuscope.lab import get_scenario
    from mtuscope.lab.netns import require_environment

    scenario = get_scenario(opts.scenario)
    host, port = split_host_port(opts.listen, what="--listen", port_required=True)
    assert port is not None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--listen {opts.listen!r}: want an IP address of this host") from None
    if opts.seconds is not None and not 0 < opts.seconds <= MOST_SECONDS:
        raise UsageError(f"--for {opts.seconds:g}: want 0 < SECONDS <= {MOST_SECONDS:.0f}")
    if opts.lower_mtu_after is not None and not 0 <= opts.lower_mtu_after <= MOST_SECONDS:
        raise UsageError(f"--lower-mtu-after {opts.lower_mtu_after:g}: want 0..{MOST_SECONDS:.0f}")
    _check_free(address, port, opts.listen)
    require_environment()
    listen = url_host_port(str(address), port)  # what `mtuscope serve --listen` gets
    # The server's address as the relays and this process reach it.
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    url_host = f"[{address}]" if address.version == 6 else str(address)
    url = f"http://{url_host}:{port}"

    with Signals().installed() as signals, ExitStack() as stack:
        try:
            try:
                ready = _start(scenario, opts, stack, signals, listen, url, str(address), port)
            except Stop:
                print("mtuscope lab demo: stopped before it was ready", file=sys.stderr)
                return 130
            _announce(ready, opts)
            try:
                _run(ready, opts)
            except Stop:
                pass
            return 0
        finally:
            signals.tearing_down = True  # from here on a signal is only noted


@dataclass(frozen=True, slots=True)
class _Ready:
    lab: Lab
    url: str
    token: str
    target: int
    firsts: tuple[dict[str, Any], ...]
    """The first result of each agent."""
    agents: tuple[tuple[str, str], ...]
    """(name, node) of each agent."""
    state: Path
    kept: bool
    watched: tuple[tuple[str, subprocess.Popen[bytes], Path], ...]
    """(name, process, log) of the server and each agent."""


def _start(
    scenario: Scenario,
    opts: DemoOptions,
    stack: ExitStack,
    signals: Signals,
    listen: str,
    url: str,
    address: str,
    port: int,
) -> _Ready:
    """Bring every part up, each one's teardown pushed on `stack` as soon as it exists
    (so they run in reverse: agent, relay, API client, server, state directory, lab)."""
    from mtuscope.lab import LISTENER_PORT, Lab
    from mtuscope.lab.relay import LoopbackRelay

    _say(opts, f"building lab {scenario.name}: {scenario.description}")
    with signals.deferred():  # Lab.up removes a half-built lab itself; a built one is ours
        lab = Lab.up(scenario, listen=True)
        stack.callback(_lab_down, lab)
        kept = opts.state_dir is not None
        if opts.state_dir is not None:
            opts.state_dir.mkdir(parents=True, exist_ok=True)
            state = opts.state_dir
        else:
            state = Path(tempfile.mkdtemp(prefix=f"mtuscope-demo-{lab.run_id}-"))
            stack.push(_remove_state(state))
    token = secrets.token_urlsafe(24)
    serve_log = state / "serve.log"
    _say(opts, f"starting mtuscope serve on {url} (store {state / 'demo.db'})")
    with signals.deferred():
        server = spawn(
            [sys.executable, "-m", "mtuscope", "serve", "--db", f"sqlite:///{state / 'demo.db'}",
             "--listen", listen],
            env={**os.environ, "MTUSCOPE_ADMIN_TOKEN": token},
            log=serve_log,
        )  # fmt: skip
        stack.callback(stop_process, server)
    watched = [("mtuscope serve", server, serve_log)]
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    stack.callback(admin.close)
    until("answer from mtuscope serve", lambda: _answers(admin), START_SECONDS, watched)
    nodes = [scenario.client, *([scenario.hops[0]] if opts.two_agents else [])]
    names = [f"lab-{node}" for node in nodes]
    tokens = [_api(admin, "POST", "/agents", {"name": name})["token"] for name in names]
    server_address = str(scenario.address(scenario.server, 4))
    target = _api(
        admin,
        "POST",
        "/targets",
        {"host": server_address, "port": LISTENER_PORT, "kind": "tcp", "interval_s": INTERVAL_S,
         "flows": FLOWS, "agents": names},
    )["id"]  # fmt: skip
    most = (opts.seconds or MOST_SECONDS) + (opts.lower_mtu_after or 0) + FIRST_RESULT_SECONDS
    for node, name, agent_token in zip(nodes, names, tokens, strict=True):
        with signals.deferred():
            stack.enter_context(
                LoopbackRelay(lab.namespace(node), port, to=(address, port)).start()
            )
        _say(opts, f"starting mtuscope agent {name} in the {node} namespace")
        log = state / f"agent-{node}.log"
        with signals.deferred():
            agent = spawn(
                ["mtuscope", "agent", "--server", f"http://127.0.0.1:{port}", "--name", name,
                 "--spool", str(state / f"agent-{node}.spool"), "--pull-seconds",
                 str(PULL_SECONDS), "--max-seconds", f"{most:.0f}"],
                env={**os.environ, "MTUSCOPE_AGENT_TOKEN": agent_token},
                log=log,
                lab=lab,
                node=node,
            )  # fmt: skip
            stack.callback(stop_process, agent)
        watched.append((f"mtuscope agent {name}", agent, log))
    _say(
        opts,
        f"waiting for the first result of each agent ({server_address} port {LISTENER_PORT}, "
        f"every {INTERVAL_S} s, {FLOWS} flows)",
    )

    def first_of_each() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = _api(admin, "GET", f"/targets/{target}/results")["results"]
        firsts = {r["agent"]: r for r in reversed(got)}
        return [firsts[n] for n in names] if set(firsts) >= set(names) else []

    results = until("result", first_of_each, FIRST_RESULT_SECONDS, watched)
    agents = tuple(zip(names, nodes, strict=True))
    return _Ready(lab, url, token, target, tuple(results), agents, state, kept, tuple(watched))


def url_host_port(address: str, port: int) -> str:
    """HOST:PORT as `--listen` takes it ([V6]:PORT for IPv6)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _run(ready: _Ready, opts: DemoOptions) -> None:
    """Watch the parts until the time is up (or a signal raises `Stop`).

    Raises:
        LabError: the server or the agent exited.
    """
    start = time.monotonic()
    end = start + (opts.seconds if opts.seconds is not None else MOST_SECONDS)
    lower_at = None if opts.lower_mtu_after is None else start + opts.lower_mtu_after
    while (now := time.monotonic()) < end:
        check_alive(ready.watched)
        if lower_at is not None and now >= lower_at:
            lower_at = None
            _say(opts, _lower_mtu(ready.lab), always=True)
        time.sleep(min(1.0, max(0.0, end - now)))


def _lower_mtu(lab: Lab) -> str:
    """Lower the drop link's MTU (or the first router-to-router link's) on both ends."""
    scenario = lab.scenario
    name = scenario.forward.drop_link
    if name is None:
        name = lab.interface(scenario.hops[0], scenario.hops[1]) if len(scenario.hops) > 1 else None
    if name is None:
        return "mtuscope lab demo: no link between two routers to lower"
    link = scenario.link(name)
    before = min(link.mtu, link.mtu_b or link.mtu)
    after = max(1280, before - LOWER_BY)
    for node in (link.a, link.b):
        lab.exec(node, ["ip", "link", "set", "dev", link.name, "mtu", str(after)])
    return (
        f"mtuscope lab demo: lowered the MTU of {link.name} ({link.a} - {link.b}) "
        f"from {before} to {after}; a pmtu-changed event follows within about 4 rounds"
    )


def _announce(ready: _Ready, opts: DemoOptions) -> None:
    lab = ready.lab
    scenario = lab.scenario
    first = ready.firsts[0]
    host = first["report"]["target"]["address"]
    if opts.as_json:
        from mtuscope import __version__

        doc = {
            "tool": "mtuscope",
            "version": __version__,
            "kind": "lab",
            "verb": "demo",
            "run_id": lab.run_id,
            "scenario": scenario.name,
            "namespaces": {n.name: lab.namespace(n.name) for n in scenario.nodes},
            "dashboard": f"{ready.url}/",
            "api": f"{ready.url}/api/v1",
            "admin_token": ready.token,
            "agents": [
                {"name": name, "node": node, "pmtu": r["report"].get("pmtu")}
                for (name, node), r in zip(ready.agents, ready.firsts, strict=True)
            ],
            "target": {"id": ready.target, "host": host},
            "first_result": {"id": first["id"], "pmtu": first["report"].get("pmtu")},
            "state_dir": str(ready.state),
            "pid": os.getpid(),
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    lines = [f"mtuscope lab demo: lab {lab.run_id} ({scenario.name}) is monitored"]
    for (name, node), result in zip(ready.agents, ready.firsts, strict=True):
        report = result["report"]
        pmtu = report.get("pmtu")
        found = f"path MTU {pmtu}" if pmtu is not None else f"stop {report.get('stop_reason')}"
        if node == scenario.client:
            found += f" (the lab's truth: {scenario.forward.pmtu(4)})"
        lines.append(f"  first result: {name} ({node}) -> {host}: {found}")
    lines += [
        f"  dashboard:    {ready.url}/   (the path view: {ready.url}/targets/{ready.target})",
        f"  admin token:  {ready.token}",
        "                (log in with it; the API takes it as 'Authorization: Bearer TOKEN')",
        f"  try:          curl -s -H 'Authorization: Bearer {ready.token}' "
        f"{ready.url}/api/v1/targets",
        f"                curl -s {ready.url}/metrics | grep mtuscope_path_mtu",
        f"  logs, store:  {ready.state}" + ("" if ready.kept else " (removed at the end)"),
    ]
    if opts.lower_mtu_after is not None:
        lines.append(f"  in {opts.lower_mtu_after:g} s the lab's drop link loses {LOWER_BY} bytes")
    if opts.seconds is not None:
        lines.append(f"  stops in {opts.seconds:g} s, or on Ctrl-C (or kill -TERM {os.getpid()})")
    else:
        lines.append(f"  stop:         Ctrl-C (or kill -TERM {os.getpid()}): removes the lab,")
        lines.append("                the server and the agents")
    print("\n".join(lines), flush=True)


def _say(opts: DemoOptions, line: str, *, always: bool = False) -> None:
    """Progress on stderr (stdout has only the announcement)."""
    if always or not opts.as_json:
        print(line if line.startswith("mtuscope") else f"mtuscope lab demo: {line}",
              file=sys.stderr, flush=True)  # fmt: skip


def _check_free(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, listen: str
) -> None:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As uvicorn binds: connections of an earlier server in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((str(address), port))
        except OSError as exc:
            hint = (
                "another server there? choose another with --listen"
                if exc.errno == errno.EADDRINUSE
                else "an address of this host?"
            )
            raise UsageError(f"--listen {listen}: {exc.strerror or exc} ({hint})") from None


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/metrics", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _api(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    try:
        r = client.request(method, f"/api/v1{path}", json=body)
    except httpx.HTTPError as exc:
        raise LabError(f"{method} /api/v1{path}: {exc}") from exc
    if r.status_code not in (200, 201, 202):
        raise LabError(f"{method} /api/v1{path}: HTTP {r.status_code} {r.text[:200]}")
    return r.json()


def _lab_down(lab: Lab) -> None:
    lab.down()
    print(f"mtuscope lab demo: stopped; lab {lab.run_id} removed", file=sys.stderr)


def _remove_state(state: Path) -> Callable[..., bool]:
    """An exit callback removing the temporary state directory, unless leaving on an error
    (its logs say what happened)."""

    def remove(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None or issubclass(exc_type, Stop):
            shutil.rmtree(state, ignore_errors=True)
        return False

    return remove
