"""`mtuscope lab`: bring lab scenarios up and down, list them, run commands inside.

Layer: edge (argument parsing and printing only). The lab itself is
`mtuscope.lab`: this module calls `Lab.up(..., keep=True)`, records the lab
with `mtuscope.lab.state` so that later invocations find it, and prints plain
text (or one JSON document with `--json`). It returns an exit code rather than
a `Report`: a lab is not a measurement.

    mtuscope lab list [--json]                 scenarios, and the labs that are up
    mtuscope lab up NAME [--id ID] [--json]    build scenario NAME and leave it running
    mtuscope lab run LAB [--node N] -- CMD...  run CMD in node N's namespace (default client)
    mtuscope lab down [LAB | --all]            remove one lab (by id or scenario), or every one
    mtuscope lab demo [--scenario S] [--listen HOST:PORT] [--for S] [--two-agents] [--json]
                                               a lab, `mtuscope serve` and an agent, until Ctrl-C
                                               (cli/lab_demo.py)

Exit codes: 0 done (for `run`, the command's own status), 2 bad input, 3 not
root or not Linux.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from mtuscope.errors import LabError, UsageError

if TYPE_CHECKING:
    from mtuscope.lab import Lab, Scenario
    from mtuscope.lab.state import LabRecord
    from mtuscope.lab.topology import DirectionTruth

# The lab itself (its scenarios pull in active/) is imported by the sub-verbs that
# use it, not here: `mtuscope --help` stays fast.


def add_parser(sub: Any) -> None:
    """Add the `lab` verb and its sub-verbs to the CLI's sub-parsers."""
    p = sub.add_parser(
        "lab",
        help="network-namespace labs with known truth: up, down, list, run",
        description="Build lab scenarios (network namespaces, veth links, routers with "
        "nftables) on the local kernel and leave them running for other tools to measure. "
        "Needs root. `mtuscope lab list` shows the scenarios.",
    )
    p.set_defaults(run=run)
    verbs = p.add_subparsers(dest="lab_verb", metavar="SUBVERB", required=True)

    up = verbs.add_parser("up", help="build a scenario and leave it running")
    up.add_argument("name", metavar="NAME", help="scenario name (see `mtuscope lab list`)")
    up.add_argument("--id", dest="run_id", help="run id, 1-8 lowercase letters or digits")
    up.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    down = verbs.add_parser("down", help="remove a running lab")
    down.add_argument("name", metavar="LAB", nargs="?", help="run id or scenario name")
    down.add_argument("--all", action="store_true", help="remove every lab `lab up` made")
    down.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    ls = verbs.add_parser("list", help="list scenarios and the labs that are up")
    ls.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    demo = verbs.add_parser(
        "demo",
        help="a lab, a monitoring server and an agent; prints the dashboard's URL",
        description="Build a lab scenario, start `mtuscope serve` on this host (a fresh "
        "SQLite store, a new admin token), enroll an agent and the scenario's server as its "
        "target, run `mtuscope agent` in the lab's client namespace, wait for the first "
        "result, print the dashboard's URL and the token, and run until Ctrl-C or SIGTERM; "
        "then remove everything. Needs root.",
    )
    demo.add_argument(
        "--scenario", default="mtu-drop", metavar="NAME", help="lab scenario (mtu-drop)"
    )
    demo.add_argument(
        "--listen",
        default="127.0.0.1:8077",
        metavar="HOST:PORT",
        help="the server's address on this host (127.0.0.1:8077)",
    )
    demo.add_argument(
        "--for",
        dest="seconds",
        type=float,
        metavar="SECONDS",
        help="stop this long after the first result (default: at Ctrl-C; 12 h at most)",
    )
    demo.add_argument(
        "--lower-mtu-after",
        type=float,
        metavar="SECONDS",
        help="this long after the first result, lower the drop link's MTU by 100 bytes "
        "(a pmtu-changed event follows)",
    )
    demo.add_argument(
        "--two-agents",
        action="store_true",
        help="a second agent in the first router's namespace (their paths merge in the path view)",
    )
    demo.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the store and the logs here (default: a temporary directory, removed)",
    )
    demo.add_argument(
        "--json", action="store_true", help="once ready, print one JSON document on stdout"
    )

    cmd = verbs.add_parser("run", help="run a command inside a node of a running lab")
    cmd.add_argument("name", metavar="LAB", help="run id or scenario name")
    cmd.add_argument("--node", default="client", help="node to run in (default client)")
    # No --json here: the command's own output and exit status are the result.
    # REMAINDER, so that the command's own options are not taken for ours; it
    # also swallows a `--node` written after LAB, which `_run` takes back.
    cmd.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")


def run(args: argparse.Namespace) -> int:
    """Run `mtuscope lab ...` with parsed arguments.

    Returns:
        The exit code: 0, or for `run` the command's exit status.

    Raises:
        UsageError: unknown scenario, lab or node; no command given.
        LabError: not root or not Linux; a lab command failed.
    """
    verb: str = args.lab_verb
    if verb == "up":
        return _up(args.name, args.run_id, as_json=args.json)
    if verb == "down":
        return _down(args.name, every=args.all, as_json=args.json)
    if verb == "list":
        return _list(as_json=args.json)
    if verb == "demo":
        return _demo(args)
    return _run(args.name, args.node, list(args.command))


def _up(name: str, run_id: str | None, *, as_json: bool) -> int:
    from mtuscope.lab import LISTENER_BYTES, Lab, get_scenario
    from mtuscope.lab.state import save

    scenario = get_scenario(name)  # an unknown name is a usage error, even without root
    lab = Lab.up(scenario, run_id=run_id, keep=True, listen=True)
    try:
        save(lab)
    except LabError:
        lab.down()
        raise
    if as_json:
        doc = _describe(scenario, lab.run_id, running=True)
        doc["listener"] = _listener(lab)
        _print_json("up", doc)
    else:
        print(f"lab {lab.run_id} ({scenario.name}) is up: {scenario.description}")
        for line in _nodes_text(scenario, lab):
            print(line)
        for line in _truth_text(scenario):
            print(line)
        server = scenario.address(scenario.server, 4)
        if lab.listener_port is not None:
            print(
                f"  {scenario.server} listens: HTTP on TCP port {lab.listener_port} "
                f"(IPv4 and IPv6), {LISTENER_BYTES} bytes to any GET"
            )
        print(f"  try:  mtuscope lab run {lab.run_id} -- tracepath -n {server}")
        if lab.listener_port is not None:
            print(
                f"        mtuscope lab run {lab.run_id} -- mtuscope probe {server} "
                f"--port {lab.listener_port} --download {LISTENER_BYTES}"
            )
        print(f"  stop: mtuscope lab down {lab.run_id}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtuscope.cli.lab_demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            scenario=args.scenario,
            listen=args.listen,
            seconds=args.seconds,
            state_dir=None if args.state_dir is None else Path(args.state_dir),
            lower_mtu_after=args.lower_mtu_after,
            two_agents=args.two_agents,
            as_json=args.json,
        )
    )


def _listener(lab: Lab) -> dict[str, Any] | None:
    """The lab listener in `lab up --json`: node, port, body size."""
    from mtuscope.lab import LISTENER_BYTES

    if lab.listener_port is None:
        return None
    return {"node": lab.scenario.server, "port": lab.listener_port, "bytes": LISTENER_BYTES}


def _down(name: str | None, *, every: bool, as_json: bool = False) -> int:
    if every and name is not None:
        raise UsageError("give a lab or --all, not both")
    from mtuscope.lab.netns import require_environment
    from mtuscope.lab.state import find, records

    require_environment()
    if every:
        targets = list(records())
    elif name is not None:
        targets = [find(name)]
    else:
        up = records()
        if len(up) != 1:
            listed = ", ".join(f"{r.run_id} ({r.scenario})" for r in up) or "none"
            raise UsageError(f"name the lab to remove (up: {listed})")
        targets = [up[0]]
    for record in targets:
        _remove(record)
        if not as_json:
            print(f"lab {record.run_id} ({record.scenario}) is down")
    if as_json:
        removed = [{"id": r.run_id, "scenario": r.scenario} for r in targets]
        _print_json("down", {"removed": removed})
    return 0


def _print_json(verb: str, body: dict[str, Any]) -> None:
    """One lab document on stdout: kind "lab", the verb, its body (src/mtuscope/lab/schema.json)."""
    from mtuscope import __version__

    doc = {"tool": "mtuscope", "version": __version__, "kind": "lab", "verb": verb, **body}
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _remove(record: LabRecord) -> None:
    from mtuscope.lab.netns import delete_namespace, list_namespaces
    from mtuscope.lab.state import forget

    try:
        lab = record.attach()
    except (LabError, UsageError):
        # Half gone already (or an old scenario name): remove what is left of it.
        present = set(list_namespaces())
        for ns in record.namespaces:
            if ns in present:
                delete_namespace(ns)
    else:
        lab.down()
    forget(record.run_id)


def _list(*, as_json: bool) -> int:
    from mtuscope.lab import SCENARIOS
    from mtuscope.lab.netns import list_namespaces
    from mtuscope.lab.state import records, state_dir

    up = records()
    present = set(list_namespaces())
    if as_json:
        doc = {
            "scenarios": [_describe(s, None, running=False) for s in SCENARIOS.values()],
            "labs": [
                {
                    "run_id": r.run_id,
                    "scenario": r.scenario,
                    "namespaces": list(r.namespaces),
                    "created": r.created,
                    "running": all(ns in present for ns in r.namespaces),
                }
                for r in up
            ],
            "state_dir": str(state_dir()),
        }
        _print_json("list", doc)
        return 0
    print("scenarios:")
    width = max(len(name) for name in SCENARIOS)
    for scenario in SCENARIOS.values():
        print(f"  {scenario.name:<{width}}  {scenario.description}")
    print("labs up:" if up else "labs up: none")
    now = time.time()
    for r in up:
        state = "" if all(ns in present for ns in r.namespaces) else "  (namespaces gone)"
        age = max(0, int(now - r.created))
        print(f"  {r.run_id:<8}  {r.scenario:<{width}}  up {age} s{state}")
    return 0


def _run(name: str, node: str, command: list[str]) -> int:
    while command and command[0] != "--":
        if command[0] == "--node" and len(command) > 1:
            node, command = command[1], command[2:]
        elif command[0].startswith("--node="):
            node, command = command[0].partition("=")[2], command[1:]
        else:
            break
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("no command given (mtuscope lab run LAB -- CMD ...)")
    from mtuscope.lab import get_scenario
    from mtuscope.lab.netns import require_environment
    from mtuscope.lab.state import find

    record = find(name)
    scenario = get_scenario(record.scenario)
    scenario.node(node)  # an unknown node is a usage error
    require_environment()
    lab = record.attach()
    # The user's command, with this terminal's stdin/stdout/stderr: its status is ours.
    try:
        with lab.popen(node, command) as proc:
            return proc.wait()
    except KeyboardInterrupt:
        return 130


def _nodes_text(scenario: Scenario, lab: Lab) -> list[str]:
    lines = []
    for node in scenario.nodes:
        addresses = "  ".join(
            f"{link.name} {link.address(node.name, 4)} {link.address(node.name, 6)}"
            for link in scenario.links_of(node.name)
            if link.routed
        )
        lines.append(f"  {node.name:<7} {lab.namespace(node.name):<22} {addresses}")
    return lines


def _truth_text(scenario: Scenario) -> list[str]:
    lines = []
    for label, truth, reverse in (
        ("client -> server", scenario.forward, False),
        ("server -> client", scenario.reverse, True),
    ):
        mtu = f"path MTU {truth.pmtu(4)}"
        if truth.pmtu(6) != truth.pmtu(4):
            mtu += f" (IPv6 {truth.pmtu(6)})"
        where = ""
        if truth.drop_link is not None:
            where = f", drops at {truth.drop_link}"
            if truth.too_big_from is None:
                where += ", silently (no router can report it)"
            else:
                hop = scenario.hop_index(truth.too_big_from, reverse=reverse)
                what = "withheld" if truth.icmp_withheld else "sent"
                where += f", too-big from {truth.too_big_from} (hop {hop}) {what}"
                if truth.too_big_mtu is not None:
                    where += f" with MTU {truth.too_big_mtu}"
        lines.append(f"  {label}: {mtu}{where}")
    if scenario.clamp is not None:
        lines.append(f"  {scenario.clamp.node} clamps the SYN MSS to {scenario.clamp.mss}")
    mss4, mss6 = scenario.server_mss(4), scenario.server_mss(6)
    answers = ", ".join(_answers(scenario))
    port = f" (TCP only on port {scenario.server_tcp_port})" if scenario.server_tcp_port else ""
    lines.append(f"  server announces MSS {mss4} (IPv6 {mss6}); answers {answers}{port}")
    return lines


# How `lab list/up` name the probe kinds a server answers (as they always have).
_ANSWER_NAMES = {"echo": "icmp-echo", "udp": "udp", "tcp-syn": "tcp-syn"}  # by ProbeKind value


def _answers(scenario: Scenario) -> list[str]:
    return sorted(_ANSWER_NAMES[k.value] for k in scenario.server_answers)


def _direction(scenario: Scenario, truth: DirectionTruth, *, reverse: bool) -> dict[str, Any]:
    sender = truth.too_big_from
    return {
        "path_mtu": {"4": truth.pmtu(4), "6": truth.pmtu(6)},
        "drop_link": truth.drop_link,
        "too_big_from": sender,
        "too_big_hop": None if sender is None else scenario.hop_index(sender, reverse=reverse),
        "too_big_source": None
        if sender is None
        else {str(f): str(scenario.too_big_source(sender, f, reverse=reverse)) for f in (4, 6)},
        "icmp_withheld": truth.icmp_withheld,
        "too_big_mtu": truth.advertised_mtu(),
        "earlier_drops": [
            {"link": d.link, "too_big_from": d.too_big_from, "mtu": d.mtu}
            for d in truth.earlier_drops
        ],
    }


def _describe(scenario: Scenario, run_id: str | None, *, running: bool) -> dict[str, Any]:
    from mtuscope.lab import LISTENER_PORT

    doc: dict[str, Any] = {
        "name": scenario.name,
        "description": scenario.description,
        "client": {f"ipv{f}": str(scenario.address(scenario.client, f)) for f in (4, 6)},
        "server": {f"ipv{f}": str(scenario.address(scenario.server, f)) for f in (4, 6)},
        "hops": list(scenario.hops),
        "forward": _direction(scenario, scenario.forward, reverse=False),
        "reverse": _direction(scenario, scenario.reverse, reverse=True),
        "clamp": None
        if scenario.clamp is None
        else {"node": scenario.clamp.node, "mss": scenario.clamp.mss},
        "server_mss": {"4": scenario.server_mss(4), "6": scenario.server_mss(6)},
        "server_answers": _answers(scenario),
        "server_tcp_port": scenario.server_tcp_port,
        "listener_port": LISTENER_PORT,  # the HTTP listener `lab up` starts on the server
    }
    if running and run_id is not None:
        doc["run_id"] = run_id
        from mtuscope.lab.netns import PREFIX

        doc["namespaces"] = {n.name: f"{PREFIX}{run_id}-{n.name}" for n in scenario.nodes}
    return doc
