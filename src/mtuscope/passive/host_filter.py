"""Keep one host's (and port's) packets of a chunk: the `--filter` predicate.

Layer: passive/. A pure predicate over `PacketTable` address columns; no I/O.
What the user typed is parsed by jobs/ (`mtuscope.jobs.analyze.AnalyzeOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

import numpy as np
import numpy.typing as npt

from mtuscope.capture.table import PacketTable, address_halves


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFilter:
    """Keep only packets to or from `address` (and `port`, when given).

    ICMP errors are kept when the packet they quote matches, since a router's
    too-big message is addressed to the host but is about the connection.
    """

    address: IPv4Address | IPv6Address
    """The host whose packets are kept."""
    port: int | None = None
    """Its TCP/UDP port; None: any port."""

    def mask(self, t: PacketTable) -> npt.NDArray[np.bool_]:
        """True for the rows of `t` to keep."""
        hi, lo = (np.uint64(v) for v in address_halves(self.address.packed))

        def side(prefix: str, port_col: str) -> npt.NDArray[np.bool_]:
            hit = (t[f"{prefix}_hi"] == hi) & (t[f"{prefix}_lo"] == lo)
            if self.port is not None:
                hit &= t[port_col] == self.port
            return np.asarray(hit, dtype=bool)

        keep = side("src", "sport") | side("dst", "dport")
        keep |= side("q_src", "q_sport") | side("q_dst", "q_dport")
        return keep
