"""The responder protocol: framing, limits, encode/decode round trips, fuzzing, rate limit."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import (
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
)
from mtuscope.active.responder_protocol import (
    MAX_REQUEST,
    MAX_RESPONSE,
    ErrorCode,
    ErrorResponse,
    FrameBuffer,
    Request,
    Response,
    ReverseMeasurement,
    SourceLimiter,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    frame,
)
from mtuscope.active.syn_view import Endpoint, decode_syn
from mtuscope.errors import DecodeError, Malformed, Truncated, UsageError
from mtuscope.wire.builders import build_tcp
from mtuscope.wire.tcp import TcpFlags

CLIENT4 = IPv4Address("192.0.2.10")
SERVER4 = IPv4Address("198.51.100.20")
CLIENT6 = IPv6Address("2001:db8:1::10")
SERVER6 = IPv6Address("2001:db8:2::20")


def _syn(
    src: IPv4Address | IPv6Address,
    dst: IPv4Address | IPv6Address,
    *,
    mss: int = 1460,
    seq: int = 1000,
    flags: TcpFlags = TcpFlags.SYN,
    ttl: int = 64,
) -> bytes:
    """A SYN as a Linux client sends it (MSS, SACK-permitted, timestamps, NOP, window scale)."""
    return build_tcp(
        src=src, dst=dst, sport=40000, dport=7000, seq=seq, flags=flags, ttl=ttl,
        mss=mss, wscale=7, sack_permitted=True, timestamps=(1, 0),
    )  # fmt: skip


def test_builders_signature_used_here() -> None:
    # Guard: the helper above builds a real SYN that decodes back to what went in.
    view = decode_syn(_syn(CLIENT4, SERVER4, mss=1300, seq=77, ttl=61))
    assert view.family == 4
    assert view.src == Endpoint(address=CLIENT4, port=40000)
    assert view.dst == Endpoint(address=SERVER4, port=7000)
    assert (view.mss, view.seq, view.ttl, view.wscale) == (1300, 77, 61, 7)
    assert view.sack_permitted and view.timestamps
    assert 2 in view.option_kinds and 8 in view.option_kinds


def test_decode_syn_ipv6() -> None:
    view = decode_syn(_syn(CLIENT6, SERVER6, mss=1440))
    assert view.family == 6 and view.mss == 1440 and view.src.address == CLIENT6


def test_decode_syn_refuses_non_syn_and_garbage() -> None:
    with pytest.raises(Malformed):
        decode_syn(_syn(CLIENT4, SERVER4, flags=TcpFlags.ACK))
    with pytest.raises(Truncated):
        decode_syn(b"")
    with pytest.raises(Malformed):
        decode_syn(b"\x50" + bytes(40))
    with pytest.raises(DecodeError):
        decode_syn(_syn(CLIENT4, SERVER4)[:30])


def test_frame_buffer_whole_and_split() -> None:
    body = encode_request(Request(reverse_pmtu=True))
    data = frame(body)
    buf = FrameBuffer(MAX_REQUEST)
    assert buf.wanted() == 4
    for byte in data[:-1]:
        assert buf.feed(bytes([byte])) is None
    assert buf.wanted() == 1
    assert buf.feed(data[-1:]) == body
    assert decode_request(body) == Request(reverse_pmtu=True)


def test_frame_buffer_refuses_oversize_at_the_header() -> None:
    buf = FrameBuffer(MAX_REQUEST)
    with pytest.raises(Malformed) as info:
        buf.feed((MAX_REQUEST + 1).to_bytes(4, "big"))
    assert info.value.offset == 0
    assert FrameBuffer(MAX_REQUEST).feed(frame(b"x" * MAX_REQUEST)) == b"x" * MAX_REQUEST


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"reverse_pmtu": true}',
        b'{"v": 2}',
        b'{"v": true}',
        b'{"v": 1, "reverse_pmtu": 1}',
        b'{"v": 1, "shell": "rm"}',
        b"[" * 5000,
        b"x" * (MAX_REQUEST + 1),
    ],
)
def test_bad_requests_are_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        decode_request(body)


def test_request_default() -> None:
    assert decode_request(b'{"v":1}') == Request(reverse_pmtu=False)


def _result(dst: IPv4Address | IPv6Address) -> PathMtuResult:
    records = []
    for i, (size, outcome, reply) in enumerate(
        [
            (1500, ProbeOutcome.TOO_BIG, (ReplyKind.TOO_BIG, "203.0.113.1", 1400)),
            (1400, ProbeOutcome.REACHED, (ReplyKind.ECHO_REPLY, str(dst), None)),
            (1401, ProbeOutcome.LOST, None),
        ],
        start=1,
    ):
        probe = Probe(id=i, family=dst.version, dst=dst, size=size, ttl=64, kind=ProbeKind.ECHO)
        rep = None
        if reply is not None:
            sender = ip_address(reply[1]) if dst.version == 4 else dst
            rep = Reply(probe_id=i, kind=reply[0], from_addr=sender, mtu=reply[2])
        records.append(
            ProbeRecord(
                probe=probe,
                sent_at=10.0 + i,
                reply=rep,
                replied_at=None if rep is None else 10.5 + i,
                outcome=outcome,
            )
        )
    return PathMtuResult(
        dst=dst,
        family=dst.version,
        kind=ProbeKind.ECHO,
        dport=None,
        path_mtu=1400,
        stop_reason=SearchStop.CONVERGED,
        too_big_mtu=1400,
        ceiling=1500,
        floor=1280,
        probes=tuple(records),
        started_at=11.0,
        ended_at=14.0,
    )


@pytest.mark.parametrize("client,server", [(CLIENT4, SERVER4), (CLIENT6, SERVER6)])
def test_response_round_trip(client: IPv4Address, server: IPv4Address) -> None:
    response = Response(
        peer=Endpoint(address=client, port=40000),
        local=Endpoint(address=server, port=7000),
        saved_syn=_syn(client, server, mss=1300),
        server_mss=1460,
        reverse=ReverseMeasurement(
            transport="raw", result=_result(client), stop="finished", sent=3, seconds=3.0
        ),
    )
    body = encode_response(response)
    assert len(body) <= MAX_RESPONSE
    assert decode_response(body) == response


def test_error_response_round_trip() -> None:
    err = ErrorResponse(code=ErrorCode.RATE_LIMITED, message="too many requests")
    assert decode_response(encode_response(err)) == err


def test_response_with_failed_reverse() -> None:
    response = Response(
        peer=Endpoint(address=CLIENT4, port=1),
        local=Endpoint(address=SERVER4, port=2),
        saved_syn=_syn(CLIENT4, SERVER4),
        server_mss=None,
        reverse=ReverseMeasurement(
            transport="none", result=None, stop="error", sent=0, seconds=0.0, error="disabled"
        ),
    )
    assert decode_response(encode_response(response)) == response


def _good_doc() -> dict[str, object]:
    response = Response(
        peer=Endpoint(address=CLIENT4, port=40000),
        local=Endpoint(address=SERVER4, port=7000),
        saved_syn=_syn(CLIENT4, SERVER4),
        server_mss=1460,
        reverse=ReverseMeasurement(
            transport="raw", result=_result(CLIENT4), stop="finished", sent=3, seconds=3.0
        ),
    )
    doc: dict[str, object] = json.loads(encode_response(response))
    return doc


@pytest.mark.parametrize(
    "path,value",
    [
        (("syn",), "zz"),
        (("syn",), "4500"),
        (("syn",), "45" * 300),
        (("peer", "address"), "not-an-address"),
        (("peer", "port"), 70000),
        (("peer", "port"), True),
        (("server_mss",), "1460"),
        (("reverse", "result", "stop_reason"), "bored"),
        (("reverse", "result", "kind"), "carrier-pigeon"),
        (("reverse", "result", "probes"), [[1, 2]]),
        (("reverse", "result", "probes"), [[1, 10, 64, 1.0, "reached", None, None, None, None]]),
        (("reverse", "result", "probes"), [[1, 1400, 64, 1.0, "meh", None, None, None, None]]),
        (("reverse", "result", "probes"), [[1, 1400, 64, "x", "lost", None, None, None, None]]),
        (("reverse", "result", "probes"), [[0, 1400, 64, 1, "lost", None, None, None, None]] * 65),
        (("reverse", "result", "dport"), 33434),
        (("reverse", "seconds"), None),
        (("ok",), "yes"),
    ],
)
def test_bad_responses_are_malformed(path: tuple[str, ...], value: object) -> None:
    doc = _good_doc()
    target: dict[str, object] = doc
    for key in path[:-1]:
        nested = target[key]
        assert isinstance(nested, dict)
        target = nested
    target[path[-1]] = value
    with pytest.raises(DecodeError):
        decode_response(json.dumps(doc).encode())


def test_unknown_error_code_is_malformed() -> None:
    with pytest.raises(Malformed):
        decode_response(b'{"v":1,"ok":false,"error":"teapot","message":"x"}')


def test_encode_refuses_an_oversized_message() -> None:
    with pytest.raises(UsageError):
        encode_response(
            Response(
                peer=Endpoint(address=CLIENT4, port=1),
                local=Endpoint(address=SERVER4, port=2),
                saved_syn=bytes(MAX_RESPONSE),
                server_mss=None,
            )
        )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_request_decoder(data: bytes) -> None:
    try:
        decode_request(data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_response_decoder_bytes(data: bytes) -> None:
    try:
        decode_response(data)
    except DecodeError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(_good_doc())), _json)
def test_fuzz_response_fields(key: str, value: object) -> None:
    doc = _good_doc()
    doc[key] = value
    try:
        decode_response(json.dumps(doc).encode())
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_syn_decoder(data: bytes) -> None:
    try:
        decode_syn(data)
    except DecodeError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_fuzz_frame_buffer(chunks: list[bytes]) -> None:
    buf = FrameBuffer(64)
    try:
        for chunk in chunks:
            body = buf.feed(chunk)
            if body is not None:
                assert len(body) <= 64
                break
    except Malformed:
        pass


def test_source_limiter_bucket_and_memory_bound() -> None:
    limiter = SourceLimiter(rate=1.0, burst=2, max_sources=3)
    assert limiter.take(CLIENT4, 0.0) and limiter.take(CLIENT4, 0.0)
    assert not limiter.take(CLIENT4, 0.1)
    assert limiter.take(CLIENT6, 0.1)  # another source has its own bucket
    assert limiter.take(CLIENT4, 1.2)  # refilled
    assert limiter.take(CLIENT4, 1.2) is False  # spent again
    for i in range(10):  # ten newer sources: CLIENT4 is forgotten (at most 3 remembered)
        assert limiter.take(IPv4Address(f"203.0.113.{i}"), 1.2)
    assert limiter.take(CLIENT4, 1.2)  # a forgotten source starts again with a full bucket
    with pytest.raises(UsageError):
        SourceLimiter(rate=0, burst=1)
