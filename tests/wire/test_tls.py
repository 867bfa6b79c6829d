"""The TLS ClientHello built from bytes, and the framing of a server's first flight.

The hello is read back field by field here (RFC 8446 §4.1.2); that OpenSSL
accepts it is tested against a real TLS server in
tests/active/transport/test_kernel_tcp_tls.py.
"""

from __future__ import annotations

import struct

import pytest

from mtuscope.errors import Malformed, UsageError
from mtuscope.wire.tls import TlsFlight, client_hello, sni_name, tls_flight

RANDOM = bytes(range(32))
SESSION = bytes(range(32, 64))
SHARE = bytes(range(64, 96))


def _hello(host: str) -> bytes:
    return client_hello(host=host, random=RANDOM, session_id=SESSION, x25519_share=SHARE)


def _extensions(record: bytes) -> dict[int, bytes]:
    """The extensions of a ClientHello record, by type; checks every length on the way."""
    assert record[0] == 22 and record[1:3] == b"\x03\x01"
    assert struct.unpack_from("!H", record, 3)[0] == len(record) - 5
    hs = record[5:]
    assert hs[0] == 1 and int.from_bytes(hs[1:4], "big") == len(hs) - 4
    body = hs[4:]
    assert body[:2] == b"\x03\x03" and body[2:34] == RANDOM
    at = 34
    assert body[at] == 32 and body[at + 1 : at + 33] == SESSION
    at += 33
    suites_len = struct.unpack_from("!H", body, at)[0]
    suites = [struct.unpack_from("!H", body, at + 2 + i)[0] for i in range(0, suites_len, 2)]
    assert 0x1301 in suites and 0xC02F in suites
    at += 2 + suites_len
    assert body[at : at + 2] == b"\x01\x00"  # compression: null only
    at += 2
    total = struct.unpack_from("!H", body, at)[0]
    at += 2
    assert at + total == len(body)
    found: dict[int, bytes] = {}
    while at < len(body):
        kind, length = struct.unpack_from("!HH", body, at)
        found[kind] = body[at + 4 : at + 4 + length]
        at += 4 + length
    assert at == len(body)
    return found


def test_client_hello_offers_tls13_and_tls12_with_an_x25519_share() -> None:
    ext = _extensions(_hello("lab.example"))
    assert ext[43] == b"\x04\x03\x04\x03\x03"  # supported_versions: 1.3, 1.2
    assert ext[51] == b"\x00\x24\x00\x1d\x00\x20" + SHARE  # key_share: x25519, 32 bytes
    assert ext[10][:4] == b"\x00\x06\x00\x1d"  # supported_groups starts with x25519
    assert ext[45] == b"\x01\x01" and 13 in ext and ext[0xFF01] == b"\x00"


def test_client_hello_names_a_host_name_in_sni_and_no_address() -> None:
    ext = _extensions(_hello("Lab.Example."))
    # ServerNameList length, name_type host_name (0), HostName length, the name.
    assert ext[0] == b"\x00\x0e\x00\x00\x0bLab.Example"
    for literal in ("203.0.113.2", "2001:db8::2", "[2001:db8::2]"):
        assert 0 not in _extensions(_hello(literal))
    assert sni_name("b\u00fccher.example") == b"xn--bcher-kva.example"


@pytest.mark.parametrize("host", ["", "a" * 64 + ".example", "a..b"])
def test_a_name_sni_cannot_carry_is_a_usage_error(host: str) -> None:
    with pytest.raises(UsageError):
        _hello(host)


def test_client_hello_checks_its_random_values() -> None:
    with pytest.raises(UsageError):
        client_hello(host="x", random=bytes(31), session_id=SESSION, x25519_share=SHARE)


def _record(kind: int, body: bytes) -> bytes:
    return bytes((kind, 3, 3)) + struct.pack("!H", len(body)) + body


SERVER_HELLO = _record(22, b"\x02\x00\x00\x04" + bytes(4))
HELLO_DONE = b"\x0e\x00\x00\x00"


def test_tls_flight_tells_a_whole_flight_from_one_cut_short() -> None:
    tls12 = SERVER_HELLO + _record(22, b"\x0b\x00\x00\x03abc" + HELLO_DONE)
    assert tls_flight(tls12) == TlsFlight(due=0, waits_for_client=True)
    assert tls_flight(tls12[:-2]) == TlsFlight(due=2, waits_for_client=False)
    tls13 = SERVER_HELLO + _record(20, b"\x01") + _record(23, bytes(1200))
    assert tls_flight(tls13) == TlsFlight(due=0, waits_for_client=True)
    # A ServerHello alone ends on a boundary, but the flight is not whole.
    assert tls_flight(SERVER_HELLO) == TlsFlight(due=0, waits_for_client=False)
    assert tls_flight(b"") == TlsFlight(due=None, waits_for_client=False)
    assert tls_flight(b"\x16\x03") == TlsFlight(due=3, waits_for_client=False)
    # A handshake message split over two records still counts.
    split = SERVER_HELLO + _record(22, HELLO_DONE[:2]) + _record(22, HELLO_DONE[2:])
    assert tls_flight(split).waits_for_client


def test_tls_flight_refuses_what_is_not_tls() -> None:
    with pytest.raises(Malformed):
        tls_flight(b"HTTP/1.1 200 OK\r\n\r\n")
