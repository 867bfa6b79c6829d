"""Shared helpers for the wire/ tests: hex vectors and tiny raw-IP pcaps for tshark."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parent.parent / "vectors"

LINKTYPE_RAW = 101  # pcap link type: packets start at the IP header


def _load_vector(name: str) -> bytes:
    """Read tests/vectors/<name>.hex: hex digits, '#' starts a comment."""
    text = (VECTORS / f"{name}.hex").read_text()
    digits = "".join(line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex("".join(digits.split()))


@pytest.fixture(scope="session")
def vector() -> Callable[[str], bytes]:
    return _load_vector


def _write_raw_pcap(path: Path, packets: Iterable[bytes]) -> Path:
    """Write IP packets to a little-endian microsecond pcap with link type RAW."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for i, packet in enumerate(packets):
            out.write(struct.pack("<IIII", i, 0, len(packet), len(packet)) + packet)
    return path


@pytest.fixture(scope="session")
def write_raw_pcap() -> Callable[[Path, Iterable[bytes]], Path]:
    return _write_raw_pcap
