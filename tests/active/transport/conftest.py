"""Fixtures of the transport tests: the lab of netlab.py."""

from .netlab import big_packets_dropped, icmp_errors_dropped, lab

__all__ = ["big_packets_dropped", "icmp_errors_dropped", "lab"]
