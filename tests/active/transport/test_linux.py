"""The CAP_NET_RAW check, read from a proc status file."""

from __future__ import annotations

from pathlib import Path

from mtuscope.active.transport import has_cap_net_raw


def test_cap_net_raw_bit_is_read_from_cap_eff(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t0000000000002000\n")
    assert has_cap_net_raw(str(status))
    status.write_text("Name:\tpython\nCapEff:\t0000000000001000\n")
    assert not has_cap_net_raw(str(status))
    status.write_text("Name:\tpython\n")
    assert not has_cap_net_raw(str(status))
    assert not has_cap_net_raw(str(tmp_path / "missing"))
