"""Running commands for the lab, and finding and removing its network namespaces.

Layer: lab (an edge). This is where the lab's processes start: every command
goes through `run`, which maps a missing program, a timeout or a failing exit
status to `LabError`. It only ever deletes namespaces whose names start with
`PREFIX`, the ones a lab made; it never touches the host's own namespace
beyond listing namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence

from mtuscope.errors import LabError, UsageError

PREFIX = "mtus-"
"""Every lab namespace name starts with this."""

DEFAULT_TIMEOUT = 20.0
"""Seconds any one lab command may take before it is abandoned."""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command to completion, capturing its output as text.

    Args:
        argv: the argument vector (no shell).
        check: raise when the exit status is not 0.
        timeout: seconds before the command is killed.
        input: text for its standard input.

    Returns:
        The finished process, with `stdout` and `stderr` as text.

    Raises:
        LabError: the program is missing, timed out, or (with `check`) failed.
    """
    command = tuple(argv)
    try:
        done = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabError(f"{command[0]}: not installed", command=command) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(
            f"{' '.join(command)}: timed out after {timeout:g} s", command=command
        ) from exc
    except OSError as exc:
        raise LabError(f"{' '.join(command)}: {exc}", command=command) from exc
    if check and done.returncode != 0:
        err = done.stderr.strip()[-500:]
        raise LabError(
            f"{' '.join(command)}: exit {done.returncode}: {err}",
            command=command,
            returncode=done.returncode,
            stderr=err,
        )
    return done


def require_environment() -> None:
    """Check that this process can build labs: Linux, root, and `ip` on the PATH.

    Raises:
        LabError: one of them is missing (the message says which).
    """
    if not sys.platform.startswith("linux"):
        raise LabError(f"the lab needs Linux network namespaces (this is {sys.platform})")
    if os.geteuid() != 0:
        raise LabError("the lab needs root (CAP_NET_ADMIN) to create network namespaces")
    if shutil.which("ip") is None:
        raise LabError("the lab needs `ip` (iproute2)")


def list_namespaces() -> tuple[str, ...]:
    """Names of all network namespaces that `ip netns` knows, lab or not.

    Raises:
        LabError: `ip netns list` failed.
    """
    out = run(["ip", "netns", "list"]).stdout
    # Lines look like "mtus-ab12cd-client (id: 3)" or just the name.
    return tuple(line.split()[0] for line in out.splitlines() if line.strip())


def lab_namespaces(prefix: str = PREFIX) -> tuple[str, ...]:
    """Names of the namespaces a lab made (they start with `PREFIX`).

    Args:
        prefix: a longer prefix narrows the list, e.g. ``"mtus-ab12cd-"`` for one lab.

    Raises:
        LabError: `ip netns list` failed.
        UsageError: `prefix` does not start with `PREFIX`.
    """
    if not prefix.startswith(PREFIX):
        raise UsageError(f"namespace prefix {prefix!r} must start with {PREFIX!r}")
    return tuple(name for name in list_namespaces() if name.startswith(prefix))


def delete_namespace(name: str) -> None:
    """Delete one lab namespace, and with it every interface and process inside it.

    Args:
        name: the namespace; must start with `PREFIX`.

    Raises:
        UsageError: the name is not a lab's.
        LabError: `ip netns del` failed for a namespace that still exists.
    """
    if not name.startswith(PREFIX):
        raise UsageError(f"refusing to delete namespace {name!r}: not made by a lab")
    # Kill by pid whatever a lab started in there and left running (a tcpdump or a
    # server after a crash), so the namespace really goes away.
    for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    done = run(["ip", "netns", "del", name], check=False)
    if done.returncode != 0 and name in list_namespaces():
        raise LabError(
            f"ip netns del {name}: {done.stderr.strip()}",
            command=("ip", "netns", "del", name),
            returncode=done.returncode,
            stderr=done.stderr.strip(),
        )


def down_all(prefix: str = PREFIX) -> tuple[str, ...]:
    """Remove every lab namespace left on this machine (`lab down --all`).

    Only namespaces whose names start with `PREFIX` are touched: other
    namespaces on the machine are never removed.

    Args:
        prefix: a longer prefix removes less, e.g. ``"mtus-ab12cd-"`` for one lab.

    Returns:
        The names that were removed.

    Raises:
        LabError: a namespace could not be removed.
        UsageError: `prefix` does not start with `PREFIX`.
    """
    removed = lab_namespaces(prefix)
    for name in removed:
        delete_namespace(name)
    return removed
