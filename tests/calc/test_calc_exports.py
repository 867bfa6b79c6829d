"""mtuscope.calc re-exports its public names in a sorted __all__ (STYLE.md §7)."""

from __future__ import annotations

import mtuscope.calc as calc


def test_all_sorted_and_present() -> None:
    assert calc.__all__ == sorted(calc.__all__)
    for name in calc.__all__:
        assert hasattr(calc, name), name
    for name in ("parse_layers", "compute", "explain_mtu", "config_snippet", "render", "PLATFORMS"):
        assert name in calc.__all__
