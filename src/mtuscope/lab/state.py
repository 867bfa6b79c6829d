"""Labs kept running between processes: one small JSON file per lab.

Layer: lab (an edge). `mtuscope lab up` builds a lab that outlives the process
(`Lab.up(..., keep=True)`) and writes down here what it built, so that later
`lab list`, `lab run` and `lab down` find it. The files hold names only (run id,
scenario, namespaces, creation time); this module reads and writes them and
never creates or removes a namespace itself.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mtuscope.errors import LabError, UsageError
from mtuscope.lab.lab import Lab

STATE_DIR = Path("/run/mtuscope/labs")
"""Where kept labs are recorded, unless `MTUSCOPE_LAB_DIR` names another directory."""

_RUN_ID = re.compile(r"[0-9a-z]{1,8}")


def state_dir() -> Path:
    """The directory of lab records: `$MTUSCOPE_LAB_DIR`, or `STATE_DIR`."""
    return Path(os.environ.get("MTUSCOPE_LAB_DIR") or STATE_DIR)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabRecord:
    """What a kept lab is: enough to attach to it again."""

    run_id: str
    scenario: str
    """The scenario's name in the catalogue."""
    namespaces: tuple[str, ...]
    created: float
    """When it was built, in seconds since the epoch."""

    def attach(self) -> Lab:
        """A handle on the running lab.

        Raises:
            UsageError: the scenario is no longer in the catalogue.
            LabError: its namespaces are gone.
        """
        return Lab.attach(self.scenario, self.run_id)


def save(lab: Lab, directory: Path | None = None) -> Path:
    """Record a kept lab.

    Args:
        lab: the running lab (built with `keep=True`).
        directory: where to write; `state_dir()` by default.

    Returns:
        The file written (`<run_id>.json`).

    Raises:
        LabError: the file could not be written.
    """
    where = directory or state_dir()
    record = {
        "run_id": lab.run_id,
        "scenario": lab.scenario.name,
        "namespaces": list(lab.namespaces),
        "created": round(time.time(), 3),
    }
    path = where / f"{lab.run_id}.json"
    try:
        where.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise LabError(f"cannot record lab {lab.run_id} in {where}: {exc}") from exc
    return path


def records(directory: Path | None = None) -> tuple[LabRecord, ...]:
    """Every recorded lab, oldest first; unreadable files are skipped.

    Args:
        directory: where to look; `state_dir()` by default.
    """
    where = directory or state_dir()
    found: list[LabRecord] = []
    try:
        paths = sorted(where.glob("*.json"))
    except OSError:
        return ()
    for path in paths:
        try:
            doc = json.loads(path.read_text())
            record = LabRecord(
                run_id=str(doc["run_id"]),
                scenario=str(doc["scenario"]),
                namespaces=tuple(str(n) for n in doc["namespaces"]),
                created=float(doc["created"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _RUN_ID.fullmatch(record.run_id) and path.stem == record.run_id:
            found.append(record)
    return tuple(sorted(found, key=lambda r: r.created))


def find(name: str, directory: Path | None = None) -> LabRecord:
    """The recorded lab with run id `name`, or the only one of scenario `name`.

    Args:
        name: a run id or a scenario name.
        directory: where to look; `state_dir()` by default.

    Raises:
        UsageError: no such lab, or several labs of that scenario (the message lists them).
    """
    labs = records(directory)
    for record in labs:
        if record.run_id == name:
            return record
    same = [r for r in labs if r.scenario == name]
    if len(same) == 1:
        return same[0]
    if same:
        ids = ", ".join(r.run_id for r in same)
        raise UsageError(f"several {name} labs are up ({ids}): name one by its id")
    running = ", ".join(f"{r.run_id} ({r.scenario})" for r in labs) or "none"
    raise UsageError(f"no lab {name!r} is up (up: {running})")


def forget(run_id: str, directory: Path | None = None) -> None:
    """Remove a lab's record (not the lab); nothing happens when there is none.

    Raises:
        UsageError: a malformed run id.
        LabError: the file exists but could not be removed.
    """
    if not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"lab run id {run_id!r}: want at most 8 lowercase letters or digits")
    path = (directory or state_dir()) / f"{run_id}.json"
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise LabError(f"cannot remove {path}: {exc}") from exc
