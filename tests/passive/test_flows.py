"""Canonical connection keys, address text and initial-TTL guesses."""

from __future__ import annotations

import numpy as np

import mtuscope.passive as passive
from mtuscope.capture.table import address_text
from mtuscope.passive import initial_ttl_guess, sender_hint
from mtuscope.passive.flows import canonical_keys
from passive.tables import halves


def test_both_directions_share_one_key() -> None:
    a_hi, a_lo, _ = halves("192.0.2.1")
    b_hi, b_lo, _ = halves("198.51.100.1")

    def u(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.uint64)

    def p(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.uint16)

    keys = canonical_keys(
        u(a_hi, b_hi), u(a_lo, b_lo), p(80, 443), u(b_hi, a_hi), u(b_lo, a_lo), p(443, 80)
    )
    assert keys.dir.tolist() == [0, 1]
    assert keys.a_lo[0] == keys.a_lo[1] == a_lo and keys.b_port.tolist() == [443, 443]


def test_same_address_orders_by_port() -> None:
    hi, lo, _ = halves("2001:db8::1")
    u = np.array([hi], dtype=np.uint64)
    v = np.array([lo], dtype=np.uint64)
    keys = canonical_keys(u, v, np.array([9000], np.uint16), u, v, np.array([22], np.uint16))
    assert keys.dir.tolist() == [1] and keys.a_port.tolist() == [22]


def test_address_text_unmaps_ipv4() -> None:
    hi, lo, _ = halves("203.0.113.5")
    assert address_text(hi, lo, 4) == "203.0.113.5"
    hi, lo, _ = halves("2001:db8::5")
    assert address_text(hi, lo, 6) == "2001:db8::5"


def test_initial_ttl_guess_and_hint() -> None:
    assert [initial_ttl_guess(t) for t in (1, 32, 33, 64, 65, 128, 129, 255)] == [
        32,
        32,
        64,
        64,
        128,
        128,
        255,
        255,
    ]
    assert "Linux" in sender_hint(64) and sender_hint(128) == "Windows"
    assert "Cisco" in sender_hint(255)


def test_exports_are_sorted_and_present() -> None:
    assert passive.__all__ == sorted(passive.__all__)
    for name in passive.__all__:
        assert hasattr(passive, name)
