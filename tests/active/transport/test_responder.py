"""The responder and its client on loopback: the real kernel's saved SYN, and the hardening.

Every server here listens on 127.0.0.1 or ::1 on a free port and is stopped at
the end of its test; nothing leaves the host.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, ip_address
from pathlib import Path

import pytest

from mtuscope.active.probe import IPAddress
from mtuscope.active.responder_protocol import (
    MAX_REQUEST,
    ErrorCode,
    ErrorResponse,
    Request,
    Response,
    ReverseMeasurement,
    decode_response,
    encode_request,
    frame,
)
from mtuscope.active.transport.responder import Responder, ResponderLimits
from mtuscope.active.transport.responder_client import check_responder
from mtuscope.active.transport.reverse_pmtu import measure_reverse
from mtuscope.errors import PortClosed, ProbeError, RawSocketDenied, UsageError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="TCP_SAVED_SYN is Linux-only"
)
ROOT = sys.platform.startswith("linux") and os.geteuid() == 0


@contextmanager
def serving(bind: str = "127.0.0.1", **limits: object) -> Iterator[Responder]:
    responder = Responder(bind, 0, limits=ResponderLimits(**limits))  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=responder.serve, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        yield responder
    finally:
        stop.set()
        thread.join(5)
        responder.close()
        assert not thread.is_alive()


def _raw_exchange(responder: Responder, payload: bytes, *, wait: float = 5.0) -> bytes:
    """Send `payload` over a plain connection and return everything until the server closes."""
    where = responder.address
    with socket.create_connection((str(where.address), where.port), timeout=wait) as sock:
        if payload:
            sock.sendall(payload)
        out = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk
        raise AssertionError("the responder did not close the connection")


def _answer(raw: bytes) -> Response | ErrorResponse:
    length = int.from_bytes(raw[:4], "big")
    assert len(raw) == 4 + length
    return decode_response(raw[4:])


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1"])
def test_round_trip_unprivileged_client(bind: str) -> None:
    with serving(bind) as responder:
        obs = check_responder(responder.address.address, responder.address.port, capture=False)
    assert obs.sent is None and obs.synack_seen is None
    assert obs.seen.family == ip_address(bind).version
    # The saved SYN is our connection's: same ports, same addresses, nothing in between.
    assert obs.seen.src == obs.local == obs.server_peer
    assert obs.seen.dst == obs.target == obs.server_local
    assert obs.announced_mss == obs.seen.mss and obs.seen.mss is not None
    assert obs.server_mss == obs.seen.mss  # loopback: both ends announce the same
    assert obs.reverse is None


@pytest.mark.skipif(not ROOT, reason="capturing our own SYN needs root")
@pytest.mark.parametrize("bind", ["127.0.0.1", "::1"])
def test_round_trip_captured_with_reverse(bind: str) -> None:
    with serving(bind) as responder:
        obs = check_responder(
            responder.address.address, responder.address.port, reverse_pmtu=True, capture=True
        )
    assert obs.sent is not None and obs.synack_seen is not None
    assert obs.sent == obs.seen  # loopback: every field arrives as sent, ISN included
    assert obs.synack_seen.mss == obs.server_mss
    assert obs.reverse is not None and obs.reverse.result is not None
    assert obs.reverse.transport == "raw"
    assert obs.reverse.result.dst == obs.local.address  # toward the client, nowhere else
    assert obs.reverse.result.path_mtu == 65535  # loopback's MTU is 65536: capped at IP's


def test_reverse_goes_only_to_the_connecting_address() -> None:
    seen: list[IPAddress] = []

    def recording(dst: IPAddress, limits: ResponderLimits) -> ReverseMeasurement:
        seen.append(dst)
        return measure_reverse(dst, limits)

    responder = Responder("127.0.0.1", 0, measure=recording)
    stop = threading.Event()
    thread = threading.Thread(target=responder.serve, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        # A request cannot name a target: extra fields are refused outright.
        raw = _raw_exchange(responder, frame(b'{"v":1,"reverse_pmtu":true,"dst":"192.0.2.1"}'))
        refused = _answer(raw)
        assert isinstance(refused, ErrorResponse) and refused.code is ErrorCode.BAD_REQUEST
        obs = check_responder("127.0.0.1", responder.address.port, reverse_pmtu=True)
    finally:
        stop.set()
        thread.join(5)
        responder.close()
    assert seen == [IPv4Address("127.0.0.1")]
    assert obs.reverse is not None and obs.reverse.sent <= responder.limits.reverse_budget


def test_reverse_refused_when_disabled() -> None:
    with serving(reverse=False) as responder:
        obs = check_responder("127.0.0.1", responder.address.port, reverse_pmtu=True)
    assert obs.reverse is not None and obs.reverse.result is None
    assert obs.reverse.error is not None and "does not measure" in obs.reverse.error


def test_oversized_request_is_refused_at_its_length() -> None:
    with serving() as responder:
        raw = _raw_exchange(responder, (MAX_REQUEST + 1).to_bytes(4, "big") + b"x" * 100)
    answer = _answer(raw)
    assert isinstance(answer, ErrorResponse) and answer.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "payload",
    [
        frame(b"hello"),
        frame(b'{"v": 99}'),
        frame(bytes(range(256)) * 3),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_garbage_gets_an_error_and_a_close(payload: bytes) -> None:
    with serving() as responder:
        raw = _raw_exchange(responder, payload)
    answer = _answer(raw)
    assert isinstance(answer, ErrorResponse)
    assert answer.code in (ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE)
    assert len(raw) < 512


def test_a_client_that_leaves_half_way_does_not_stall_the_server() -> None:
    with serving() as responder:
        port = responder.address.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(frame(encode_request(Request()))[:5])
        obs = check_responder("127.0.0.1", port, capture=False, timeout=2.0)
    assert obs.seen.dst.port == port


def test_slowloris_is_cut_off_at_the_deadline() -> None:
    with serving(deadline=0.5) as responder:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", responder.address.port), timeout=5) as sock:
            sock.sendall(b"\x00\x00")  # two bytes of the length, then nothing
            out = b""
            while chunk := sock.recv(4096):
                out += chunk
        took = time.monotonic() - start
    answer = _answer(out)
    assert isinstance(answer, ErrorResponse) and answer.code is ErrorCode.TIMEOUT
    assert 0.4 <= took < 3.0


def test_rate_limit_per_source() -> None:
    with serving(rate=0.01, burst=2) as responder:
        port = responder.address.port
        check_responder("127.0.0.1", port, capture=False)
        check_responder("127.0.0.1", port, capture=False)
        with pytest.raises(ProbeError, match="rate-limited"):
            check_responder("127.0.0.1", port, capture=False)
        # The limit is per source: another address of this host has its own bucket.
        with socket.socket() as other:
            other.settimeout(5)
            other.bind(("127.0.0.2", 0))
            other.connect(("127.0.0.1", port))
            other.sendall(frame(encode_request(Request())))
            out = b""
            while chunk := other.recv(4096):
                out += chunk
        answer = _answer(out)
        assert isinstance(answer, Response)
        assert answer.peer.address == IPv4Address("127.0.0.2")


def test_busy_when_all_slots_are_taken() -> None:
    with serving(max_clients=1, deadline=2.0) as responder:
        port = responder.address.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as hog:
            time.sleep(0.3)  # the hog holds the only slot, sending nothing
            with pytest.raises(ProbeError, match="busy"):
                check_responder("127.0.0.1", port, capture=False)
            del hog


def test_bind_errors_are_usage_errors() -> None:
    with serving() as responder:
        with pytest.raises(UsageError, match="cannot listen"):
            Responder("127.0.0.1", responder.address.port)
    with pytest.raises(UsageError, match="cannot listen"):
        Responder("192.0.2.1", 0)  # not an address of this host
    with pytest.raises(UsageError):
        ResponderLimits(reverse_budget=1000)


def test_client_errors() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(PortClosed, match="nothing listens on 127.0.0.1 port"):
            check_responder("127.0.0.1", port, timeout=1.0)
    with pytest.raises(UsageError):
        check_responder("127.0.0.1", 0)


@pytest.mark.skipif(ROOT, reason="checks the refusal an unprivileged user gets")
def test_capture_required_without_root() -> None:
    with serving() as responder, pytest.raises(RawSocketDenied):
        check_responder("127.0.0.1", responder.address.port, capture=True)


_UNPRIVILEGED = """
import json, threading
from mtuscope.active.transport.responder import Responder
from mtuscope.active.transport.responder_client import check_responder
from mtuscope.errors import RawSocketDenied
r = Responder("127.0.0.1", 0)
stop = threading.Event()
t = threading.Thread(target=r.serve, kwargs={"stop": stop}, daemon=True)
t.start()
try:
    obs = check_responder("127.0.0.1", r.address.port, reverse_pmtu=True)
    try:
        check_responder("127.0.0.1", r.address.port, capture=True)
        denied = False
    except RawSocketDenied:
        denied = True
finally:
    stop.set()
    t.join(5)
    r.close()
rev = obs.reverse
print(json.dumps({
    "captured": obs.sent is not None, "announced": obs.announced_mss, "seen": obs.seen.mss,
    "transport": rev.transport, "pmtu": rev.result.path_mtu if rev.result else None,
    "denied": denied,
}))
"""


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_without_cap_net_raw() -> None:
    # The same process rights as root, minus CAP_NET_RAW: the client cannot capture its
    # SYN and compares the kernel's MSS; the responder falls back to UDP probes.
    src = Path(__file__).resolve().parents[3] / "src"
    done = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw",
         sys.executable, "-c", _UNPRIVILEGED],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out = json.loads(done.stdout)
    assert out["captured"] is False and out["denied"] is True
    assert out["announced"] == out["seen"]
    assert out["transport"] == "udp" and out["pmtu"] == 65535
