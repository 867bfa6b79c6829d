"""Shared vocabulary of the capture rules: evidence items and advice lookup.

Layer: diagnose/. Pure; no I/O. Field names are Wireshark's display-filter
names, so every claim can be checked by typing the field into Wireshark.
"""

from __future__ import annotations

from collections.abc import Mapping

from mtuscope.diagnose.findings import Evidence

HEADERS = {4: 40, 6: 60}
"""IP plus TCP header bytes without options, by IP version."""

Facts = dict[str, int | str | None]


def ip_len_field(family: int) -> str:
    """Wireshark's name of the IP length field: IPv4 total length or IPv6 payload length."""
    return "ip.len" if family == 4 else "ipv6.plen"


def ttl_field(family: int) -> str:
    return "ip.ttl" if family == 4 else "ipv6.hlim"


def icmp_mtu_field(family: int) -> str:
    return "icmp.mtu" if family == 4 else "icmpv6.mtu"


def frame_evidence(
    capture: str,
    frame: int,
    field: str,
    observed: int | str | None,
    expected: int | str | None = None,
    note: str | None = None,
) -> Evidence:
    """One evidence item pointing at a capture frame (1-based)."""
    return Evidence(
        capture=capture,
        frame=frame,
        field=field,
        observed=observed,
        expected=expected,
        note=note,
    )


def advice(kind: str, facts: Mapping[str, int | str | None], platform: str | None) -> str:
    """The advice text of calc/ for a finding kind and its facts."""
    from mtuscope.calc.advice import advise

    return advise(kind, facts, platform=platform)
