"""For any bytes, every wire/ decoder returns a value or raises DecodeError, nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.errors import DecodeError
from mtuscope.wire.icmp import decode_icmp_echo, decode_icmp_error
from mtuscope.wire.ipv4 import decode_ipv4
from mtuscope.wire.ipv6 import decode_ipv6
from mtuscope.wire.tcp import decode_tcp
from mtuscope.wire.tcp_options import decode_tcp_options
from mtuscope.wire.udp import decode_udp

DECODERS: dict[str, Callable[[bytes], object]] = {
    "ipv4": decode_ipv4,
    "ipv4-lenient": lambda b: decode_ipv4(b, lenient=True),
    "ipv6": decode_ipv6,
    "ipv6-lenient": lambda b: decode_ipv6(b, lenient=True),
    "tcp": decode_tcp,
    "tcp-options": decode_tcp_options,
    "udp": decode_udp,
    "icmp4-error": lambda b: decode_icmp_error(b, family=4),
    "icmp6-error": lambda b: decode_icmp_error(b, family=6),
    "icmp4-echo": lambda b: decode_icmp_echo(b, family=4),
    "icmp6-echo": lambda b: decode_icmp_echo(b, family=6),
}

# Bytes that often start like the real thing, so the fuzzing reaches deep branches.
PREFIXES = [b"", b"\x45", b"\x46", b"\x60\x00\x00\x00", b"\x03\x04", b"\x02\x00", b"\x0b\x00"]


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), data=st.binary(max_size=160))
def test_decoder_returns_or_raises_decode_error(name: str, prefix: bytes, data: bytes) -> None:
    try:
        DECODERS[name](prefix + data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([4, 6]),
    st.sampled_from([1, 2, 3, 4, 11, 12]),
    st.sampled_from([b"\x45", b"\x46\x00", b"\x60", b"\x4f"]),
    st.binary(max_size=200),
)
def test_error_quotes_never_raise(family: int, kind: int, start: bytes, rest: bytes) -> None:
    message = decode_icmp_error(bytes([kind, 4, 0, 0, 0, 0, 5, 0]) + start + rest, family=family)
    assert message.quote_len <= len(start) + len(rest)
