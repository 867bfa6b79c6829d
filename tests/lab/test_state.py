"""Records of kept labs: written, listed, found by id or scenario, forgotten.

Pure file handling in a temporary directory: no namespace is built here (a
`Lab` handle is recorded without being brought up).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtuscope.errors import LabError, UsageError
from mtuscope.lab import Lab, get_scenario, state_dir
from mtuscope.lab.state import STATE_DIR, find, forget, records, save


def _lab(scenario: str, run_id: str) -> Lab:
    return Lab(get_scenario(scenario), run_id)


def test_save_list_find_forget(tmp_path: Path) -> None:
    path = save(_lab("mtu-drop", "a1"), tmp_path)
    assert path == tmp_path / "a1.json"
    doc = json.loads(path.read_text())
    assert doc["scenario"] == "mtu-drop" and doc["namespaces"][0] == "mtus-a1-client"
    save(_lab("clean", "b2"), tmp_path)
    save(_lab("clean", "c3"), tmp_path)
    assert [r.run_id for r in records(tmp_path)] == ["a1", "b2", "c3"]
    assert find("a1", tmp_path).scenario == "mtu-drop"
    assert find("mtu-drop", tmp_path).run_id == "a1"
    with pytest.raises(UsageError, match="several clean labs are up"):
        find("clean", tmp_path)
    with pytest.raises(UsageError, match=r"no lab 'vxlan' is up \(up: a1 \(mtu-drop\)"):
        find("vxlan", tmp_path)
    forget("b2", tmp_path)
    forget("b2", tmp_path)  # twice is fine
    assert find("clean", tmp_path).run_id == "c3"
    with pytest.raises(UsageError):
        forget("../etc", tmp_path)


def test_unreadable_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    save(_lab("clean", "ok1"), tmp_path)
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "odd.json").write_text(json.dumps({"run_id": "other", "scenario": "clean"}))
    renamed = json.loads((tmp_path / "ok1.json").read_text())
    (tmp_path / "zz9.json").write_text(json.dumps(renamed))  # file name and id disagree
    assert [r.run_id for r in records(tmp_path)] == ["ok1"]
    assert records(tmp_path / "missing") == ()


def test_state_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MTUSCOPE_LAB_DIR", raising=False)
    assert state_dir() == STATE_DIR == Path("/run/mtuscope/labs")
    monkeypatch.setenv("MTUSCOPE_LAB_DIR", str(tmp_path))
    assert state_dir() == tmp_path
    save(_lab("clean", "e1"))
    assert (tmp_path / "e1.json").exists()


def test_save_to_an_unwritable_place_is_a_lab_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LabError, match="cannot record lab"):
        save(_lab("clean", "f1"), blocker / "labs")


def test_attach_to_a_lab_that_is_not_running() -> None:
    record_lab = _lab("clean", "zz0none")
    with pytest.raises(UsageError):
        Lab.attach("clean", "Bad-Id")
    with pytest.raises(LabError, match="is not running"):
        Lab.attach("clean", record_lab.run_id)
