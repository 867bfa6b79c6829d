"""mtuscope.wire re-exports its public names in a sorted __all__."""

from __future__ import annotations

import importlib
import pkgutil

import mtuscope.wire as wire


def test_all_is_sorted_and_resolves() -> None:
    assert wire.__all__ == sorted(wire.__all__)
    for name in wire.__all__:
        assert getattr(wire, name) is not None


def test_every_module_name_is_reexported() -> None:
    for info in pkgutil.iter_modules(wire.__path__):
        module = importlib.import_module(f"mtuscope.wire.{info.name}")
        missing = set(getattr(module, "__all__", ())) - set(wire.__all__)
        assert not missing, f"{info.name}: {sorted(missing)}"
