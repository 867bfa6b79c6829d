"""A running lab: a scenario built from network namespaces on the local kernel.

Layer: lab (an edge). Turns a `Scenario` declaration into namespaces, veth
pairs, VXLAN tunnels, addresses, routes, sysctls and nftables rulesets, runs
commands inside them, and tears everything down again — on leaving the `with`
block, on `down()`, and at interpreter exit (`atexit`) for a lab that was never
brought down, unless it was built to be kept (`keep=True`, `detach()`), as
`mtuscope lab up` does. It sends no traffic of its own and never configures anything
outside the namespaces it created.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from mtuscope.errors import LabError, UsageError
from mtuscope.lab.build import build
from mtuscope.lab.capture import Capture
from mtuscope.lab.netns import (
    PREFIX,
    delete_namespace,
    list_namespaces,
    require_environment,
    run,
)
from mtuscope.lab.scenarios import get_scenario
from mtuscope.lab.teardown import TornDownOnExit
from mtuscope.lab.topology import Scenario
from mtuscope.lab.traffic import LISTENER_BYTES, LISTENER_PORT, listener_argv

_RUN_ID = re.compile(r"[0-9a-z]{1,8}")


def this_installation(argv: Sequence[str]) -> list[str]:
    """`argv` with a leading `mtuscope` meaning the installation that is running now.

    Inside a namespace (often under sudo, whose PATH is its own) `mtuscope` may
    not be on PATH, or be another installation: the running interpreter with
    `-m mtuscope` is always this one.
    """
    if argv and argv[0] == "mtuscope":
        return [sys.executable, "-m", "mtuscope", *argv[1:]]
    return list(argv)


def path_with_this_installation(environ: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `environ` (default: ours) whose PATH starts with this installation's bin.

    So that a shell or script run inside a node also finds `mtuscope` (and this
    environment's `python3`), as in an activated virtual environment.
    """
    env = dict(os.environ if environ is None else environ)
    here = os.path.dirname(sys.executable)
    parts = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([here, *(p for p in parts if p != here)])
    return env


_LIVE: set[Lab] = set()
"""Labs up and not yet down: `atexit` removes them (a strong set, so a lab whose
caller dropped every reference is still removed)."""


@atexit.register
def _down_live_labs() -> None:
    for lab in list(_LIVE):
        try:
            lab.down()
        except LabError:
            pass


class Lab(TornDownOnExit):
    """A scenario running on the local kernel. Build it with `Lab.up`.

    Example:
        with Lab.up("mtu-drop") as lab:
            lab.exec("client", ["ping", "-c1", "-M", "do", "-s", "1372",
                                str(lab.address("server", 4))])
    """

    def __init__(self, scenario: Scenario, run_id: str) -> None:
        """Record (not build) a lab; use `Lab.up` to build one."""
        self.scenario = scenario
        self.run_id = run_id
        """Short random id that makes this lab's namespace names unique."""
        self.offloads_disabled = False
        """True when `ethtool -K` turned TSO/GSO/GRO off on every veth; False when
        ethtool is missing and only `ip link set ... gso_max_segs 1` limited them."""
        self._created: list[str] = []
        self._children: list[subprocess.Popen[Any]] = []
        """Processes `popen` started, killed by `down()` if still running."""
        self._up = False
        self.listener_port: int | None = None
        """The TCP port of the lab's HTTP listener on the server node, once started
        (`start_listener`); None without one."""
        self.listener_pid: int | None = None

    @classmethod
    def up(
        cls,
        scenario: Scenario | str,
        *,
        run_id: str | None = None,
        use_ethtool: bool | None = None,
        keep: bool = False,
        listen: bool = False,
    ) -> Lab:
        """Build a scenario's namespaces, links, routes and rules.

        If anything fails half-way, what was built is removed before the error
        propagates.

        Args:
            scenario: a `Scenario`, or the name of one in the catalogue.
            run_id: namespace-name infix; random (6 hex digits) by default.
            use_ethtool: turn offloads off with `ethtool -K` (True), with the
                `ip link` fallback (False), or with ethtool when it is installed (None).
            keep: leave the lab running when this process exits (no `atexit`
                teardown; `mtuscope lab up`); remove it later with `down()` on
                `Lab.attach(...)`, or `down_all`.
            listen: start the lab's HTTP listener on the server node (TCP
                `LISTENER_PORT`, IPv4 and IPv6; lab/traffic.py), as `mtuscope lab up`
                does; it dies with the lab.

        Returns:
            The running lab; use it as a context manager to have it torn down.

        Raises:
            UsageError: unknown scenario name, or a run id not of 1-8 lowercase letters or digits.
            LabError: not root, not Linux, a tool missing, a command failed, or a lab
                with this run id exists already.
        """
        if isinstance(scenario, str):
            scenario = get_scenario(scenario)
        run_id = run_id or secrets.token_hex(3)
        if not _RUN_ID.fullmatch(run_id):
            raise UsageError(f"lab run id {run_id!r}: want at most 8 lowercase letters or digits")
        require_environment()
        lab = cls(scenario, run_id)
        if set(lab.namespaces) & set(list_namespaces()):
            raise LabError(f"lab {run_id} exists already (namespaces {PREFIX}{run_id}-*)")
        _LIVE.add(lab)
        try:
            lab.offloads_disabled = build(
                scenario,
                namespace=lab.namespace,
                on_created=lab._created.append,
                use_ethtool=use_ethtool,
            )
            lab._up = True
            if listen:
                lab.start_listener()
        except BaseException:
            lab.down()
            raise
        if keep:
            lab.detach()
        return lab

    @classmethod
    def attach(cls, scenario: Scenario | str, run_id: str) -> Lab:
        """A handle on a lab that is already running (built by another process with `keep`).

        The handle does not remove the lab at exit; call `down()` for that.

        Args:
            scenario: the scenario it was built from, or its name.
            run_id: its run id.

        Returns:
            The running lab.

        Raises:
            UsageError: unknown scenario, or a malformed run id.
            LabError: not every namespace of that lab exists.
        """
        if isinstance(scenario, str):
            scenario = get_scenario(scenario)
        if not _RUN_ID.fullmatch(run_id):
            raise UsageError(f"lab run id {run_id!r}: want at most 8 lowercase letters or digits")
        lab = cls(scenario, run_id)
        present = set(list_namespaces())
        missing = [ns for ns in lab.namespaces if ns not in present]
        if missing:
            raise LabError(f"lab {run_id} ({scenario.name}) is not running: no {missing[0]}")
        lab._created = list(lab.namespaces)
        lab._up = True
        return lab

    def detach(self) -> None:
        """Leave this lab running when the process exits (no `atexit` teardown)."""
        _LIVE.discard(self)

    # -- naming -----------------------------------------------------------

    def namespace(self, node: str) -> str:
        """The network namespace name of `node` in this run (`mtus-<id>-<node>`).

        Raises:
            UsageError: the scenario has no such node.
        """
        return f"{PREFIX}{self.run_id}-{self.scenario.node(node).name}"

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Namespace names of every node, in declaration order."""
        return tuple(self.namespace(n.name) for n in self.scenario.nodes)

    @property
    def truth(self) -> Scenario:
        """The declaration, with its truth: `forward` and `reverse` (`DirectionTruth`:
        path MTU per family, drop link, too-big sender and content, earlier drops),
        `clamp`, `hops`, `server_mss(family)`, `server_answers`, `server_tcp_port`,
        and `hop_index` / `too_big_source` for where each too-big comes from."""
        return self.scenario

    def address(self, node: str, family: int = 4) -> IPv4Address | IPv6Address:
        """The address others reach `node` by (its first routed link).

        Args:
            node: a node name.
            family: 4 or 6.

        Raises:
            UsageError: no such node or family.
        """
        return self.scenario.address(node, family)

    def interface(self, node: str, peer: str) -> str:
        """The interface of `node` that leads to its neighbour `peer` (a routed link).

        Raises:
            UsageError: the two are not neighbours.
        """
        for link in self.scenario.links_of(node):
            if link.routed and link.peer(node) == peer:
                return link.name
        raise UsageError(f"{node} and {peer} are not neighbours in {self.scenario.name}")

    # -- running things ---------------------------------------------------

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 20.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside `node` to completion (`ip netns exec`).

        Args:
            node: a node name.
            argv: the command (no shell); a leading `mtuscope` is this installation.
            check: raise `LabError` when it exits non-zero.
            timeout: seconds before it is killed (and `LabError` raised).
            input: text for its standard input.

        Returns:
            The finished process with text `stdout`/`stderr`.

        Raises:
            UsageError: no such node.
            LabError: it could not run, timed out, or (with `check`) failed.
        """
        self._require_up()
        return run(
            ["ip", "netns", "exec", self.namespace(node), *this_installation(argv)],
            check=check,
            timeout=timeout,
            input=input,
        )

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a command inside `node` and return at once; the caller waits for it.

        Args:
            node: a node name.
            argv: the command (no shell); a leading `mtuscope` is this installation,
                and PATH starts with its bin directory (unless `env` is given).
            **kwargs: passed to `subprocess.Popen` (stdout, stderr, text, env, ...).

        Returns:
            The running process. The caller must end it (by its handle) before `down()`;
            `down()` kills whatever is still left in the namespaces.

        Raises:
            UsageError: no such node.
            LabError: it could not start.
        """
        self._require_up()
        full = ("ip", "netns", "exec", self.namespace(node), *this_installation(argv))
        kwargs.setdefault("env", path_with_this_installation())
        try:
            child = subprocess.Popen(full, **kwargs)
        except OSError as exc:
            raise LabError(f"{' '.join(full)}: {exc}", command=full) from exc
        self._children.append(child)
        return child

    def start_listener(
        self, port: int = LISTENER_PORT, *, nbytes: int = LISTENER_BYTES, timeout: float = 15.0
    ) -> int:
        """Start the lab's HTTP listener on the server node and wait until it listens.

        Any GET to `port` (every address of the server, IPv4 and IPv6) gets
        `nbytes` bytes; the listener runs detached in the server's namespace
        until `down()` removes it (lab/traffic.py `serve_http` has its bounds).

        Args:
            port: the TCP port.
            nbytes: the body of every answer, bytes.
            timeout: seconds to wait for it to listen.

        Returns:
            The port.

        Raises:
            LabError: it did not start, or could not listen (the port is taken).
        """
        self._require_up()
        argv = listener_argv(port, nbytes=nbytes)
        child = self.popen(
            self.scenario.server,
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            child.kill()
            child.wait()
            raise LabError(f"the lab listener did not start within {timeout} s") from exc
        said: dict[str, Any] = {}
        try:
            said = json.loads(out.splitlines()[0]) if out.strip() else {}
        except (ValueError, IndexError):
            pass
        if child.returncode != 0 or said.get("listening") != port:
            why = said.get("error") or f"exit status {child.returncode}"
            raise LabError(f"the lab listener on {self.scenario.server} port {port}: {why}")
        self.listener_port = port
        pid = said.get("pid")
        self.listener_pid = pid if isinstance(pid, int) else None
        return port

    def capture(
        self,
        node: str,
        interface: str,
        path: Path | str,
        *,
        snaplen: int = 262144,
        bpf: Sequence[str] = (),
    ) -> Capture:
        """A tcpdump of one interface of `node`, to use as a context manager.

        Args:
            node: a node name.
            interface: an interface of that node (a link name).
            path: the pcap file to write.
            snaplen: bytes kept of each packet.
            bpf: capture filter words, e.g. ``("tcp", "or", "icmp")``.

        Returns:
            A `Capture`; entering it waits until tcpdump listens.

        Raises:
            UsageError: no such node, or the interface is not one of its links.
        """
        self._require_up()
        if interface not in {link.name for link in self.scenario.links_of(node)}:
            raise UsageError(f"node {node} has no interface {interface!r}")
        return Capture(self.namespace(node), interface, path, snaplen=snaplen, bpf=bpf)

    def flush_pmtu_cache(self, node: str | None = None) -> None:
        """Forget learned path MTUs (IPv4 and IPv6 route exceptions) in one node or all.

        Raises:
            LabError: `ip route flush cache` failed.
        """
        nodes = [node] if node is not None else [n.name for n in self.scenario.nodes]
        for name in nodes:
            # One namespace entry per node for both families (`ip -batch` cannot switch family).
            self.exec(name, ["sh", "-c", "ip -4 route flush cache && ip -6 route flush cache"])

    def cached_pmtu(self, node: str, destination: IPv4Address | IPv6Address) -> int | None:
        """The path MTU `node`'s kernel has learned towards `destination`, if any.

        Reads the `mtu` of `ip route get`, which appears only once a too-big
        message was accepted (a route exception).

        Raises:
            LabError: `ip route get` failed.
        """
        family = "-6" if destination.version == 6 else "-4"
        out = self.exec(node, ["ip", family, "-o", "route", "get", str(destination)]).stdout
        # "... mtu 1400 ..." or, below net.ipv4.route.min_pmtu, "... mtu lock 552 ...".
        words = out.split()
        for i, word in enumerate(words[:-1]):
            if word == "mtu":
                value = (
                    words[i + 2] if words[i + 1] == "lock" and i + 2 < len(words) else words[i + 1]
                )
                if value.isdigit():
                    return int(value)
        return None

    # -- lifecycle --------------------------------------------------------

    def down(self) -> None:
        """Remove every namespace of this lab (and so its links, rules and processes).

        Safe to call twice and on a half-built lab.

        Raises:
            LabError: a namespace could not be removed.
        """
        errors: list[LabError] = []
        # Kill what this lab started first: a child that has not yet entered its
        # namespace (just started, on a loaded machine) is not among the
        # namespace's pids that delete_namespace kills.
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait()
        self._children.clear()
        # The listener detached from its starter; removing the namespace kills it too.
        self.listener_port = self.listener_pid = None
        for name in reversed(self._created):
            try:
                delete_namespace(name)
            except LabError as exc:
                errors.append(exc)
        self._created.clear()
        self._up = False
        _LIVE.discard(self)
        if errors:
            raise errors[0]

    def _teardown(self) -> None:
        self.down()

    def _require_up(self) -> None:
        if not self._up:
            raise LabError(f"lab {self.run_id} ({self.scenario.name}) is not up")
