"""Flags several verbs share, defined once.

Layer: edge (CLI). Argument parsing only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["add_family"]


class _Family(argparse.Action):
    """`-4` or `-6`: store the family; both on one command line is a usage error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        family: int = self.const
        before = getattr(namespace, self.dest, None)
        if before is not None and before != family:
            parser.error("-4 and -6 exclude each other: give one of them, or neither for either")
        setattr(namespace, self.dest, family)


def add_family(p: argparse.ArgumentParser) -> None:
    """Add `-4` and `-6` (dest `family`: 4, 6 or None) to a verb's parser."""
    p.add_argument("-4", dest="family", action=_Family, nargs=0, const=4, help="IPv4 only")
    p.add_argument("-6", dest="family", action=_Family, nargs=0, const=6, help="IPv6 only")
