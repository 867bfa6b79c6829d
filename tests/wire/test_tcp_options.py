"""Tests for mtuscope.wire.tcp_options."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.errors import UsageError
from mtuscope.wire.enums import TcpOptionKind as K
from mtuscope.wire.tcp_options import (
    TcpOption,
    TcpOptions,
    decode_tcp_options,
    encode_tcp_options,
    syn_options,
)


def test_linux_syn_options(vector: Callable[[str], bytes]) -> None:
    area = vector("ipv4_tcp_syn")[40:60]  # IP 20 + TCP fixed 20
    opts = decode_tcp_options(area)
    assert opts.mss == 1460
    assert opts.mss_all == (1460,)
    assert opts.wscale == 7
    assert opts.sack_permitted
    assert opts.timestamps == (1000, 0)
    assert opts.kinds == (K.MSS, K.SACK_PERMITTED, K.TIMESTAMPS, K.NOP, K.WSCALE)
    assert not opts.truncated and not opts.malformed


def test_two_mss_options_are_all_reported(vector: Callable[[str], bytes]) -> None:
    opts = decode_tcp_options(vector("tcp_options_two_mss"))
    assert opts.mss_all == (1460, 1400)
    assert opts.mss == 1460
    assert opts.sack_permitted
    assert not opts.malformed


def test_mss_with_wrong_length_is_not_an_mss(vector: Callable[[str], bytes]) -> None:
    opts = decode_tcp_options(vector("tcp_options_bad_mss_len"))
    assert opts.mss is None and opts.mss_all == ()
    assert opts.malformed and not opts.truncated
    # the walk goes on past it, as Wireshark's does, and stops at EOL
    assert opts.wscale == 7
    assert opts.kinds == (K.MSS, K.NOP, K.WSCALE, K.EOL)
    assert opts.options[0].data == bytes.fromhex("05b400")


@pytest.mark.parametrize(
    ("area", "kinds"),
    [
        (b"", ()),
        (b"\x00\x02\x04\x05\xb4", (K.EOL,)),  # EOL ends: the MSS after it is padding
        (b"\x01\x01\x01\x02\x04\x05\xb4", (K.NOP, K.NOP, K.NOP, K.MSS)),
    ],
)
def test_eol_and_nop(area: bytes, kinds: tuple[K, ...]) -> None:
    opts = decode_tcp_options(area)
    assert opts.kinds == kinds
    assert not opts.truncated and not opts.malformed


def test_length_below_two_stops_as_malformed() -> None:
    opts = decode_tcp_options(bytes.fromhex("02 04 05 b4 08 01 00 00 03 03 07"))
    assert opts.mss == 1460  # what came before stays
    assert opts.malformed and not opts.truncated
    assert opts.kinds == (K.MSS,)


def test_option_cut_by_the_end_is_truncated() -> None:
    opts = decode_tcp_options(bytes.fromhex("02 04 05 b4 08 0a 00 00"))
    assert opts.mss == 1460
    assert opts.timestamps is None
    assert opts.truncated and not opts.malformed
    # a lone kind byte at the end: the length byte is cut
    assert decode_tcp_options(b"\x01\x03").truncated


def test_area_len_tells_a_cut_from_a_lie() -> None:
    data = bytes.fromhex("02 04 05 b4 08 0a 00 00")
    cut = decode_tcp_options(data, area_len=16)  # the header says 16: a snaplen cut
    assert cut.truncated and not cut.malformed
    lie = decode_tcp_options(data, area_len=8)  # the option claims more than the area
    assert lie.malformed and not lie.truncated
    assert lie.mss == 1460
    # bytes beyond the declared area are not options
    assert decode_tcp_options(data, area_len=4).kinds == (K.MSS,)
    assert decode_tcp_options(b"\x03", area_len=1).malformed


def test_other_fixed_lengths_are_checked() -> None:
    opts = decode_tcp_options(bytes.fromhex("03 04 07 00 04 03 00 08 09" + "00" * 7))
    assert opts.wscale is None and not opts.sack_permitted and opts.timestamps is None
    assert opts.malformed
    assert opts.kinds == (K.WSCALE, K.SACK_PERMITTED, K.TIMESTAMPS)


def test_unknown_kind_keeps_its_data() -> None:
    opts = decode_tcp_options(bytes.fromhex("c8 04 ab cd 02 04 02 18"))
    assert str(opts.options[0].kind) == "KIND200"
    assert opts.options[0].data == b"\xab\xcd"
    assert opts.mss == 536


def test_encode_pads_to_words_and_round_trips() -> None:
    options = syn_options(mss=1400, wscale=8, sack_permitted=True, timestamps=(7, 9))
    raw = encode_tcp_options(options)
    assert len(raw) == 20
    decoded = decode_tcp_options(raw)
    assert decoded.options == options
    assert (decoded.mss, decoded.wscale, decoded.timestamps) == (1400, 8, (7, 9))
    assert encode_tcp_options([TcpOption(kind=K.MSS, data=b"\x05\xb4")], pad=False) == bytes(
        (2, 4, 5, 0xB4)
    )
    assert encode_tcp_options([TcpOption(kind=K.NOP)]) == b"\x01\x00\x00\x00"


@pytest.mark.parametrize(
    ("kwargs", "kinds"),
    [
        ({"mss": 1460}, (K.MSS,)),
        ({"sack_permitted": True}, (K.NOP, K.NOP, K.SACK_PERMITTED)),
        ({"timestamps": (1, 2)}, (K.NOP, K.NOP, K.TIMESTAMPS)),
        ({"wscale": 2}, (K.NOP, K.WSCALE)),
    ],
)
def test_syn_options_layouts_are_word_aligned(
    kwargs: dict[str, object], kinds: tuple[K, ...]
) -> None:
    options = syn_options(**kwargs)  # type: ignore[arg-type]  # parametrized keywords
    assert tuple(o.kind for o in options) == kinds
    assert sum(o.wire_len for o in options) % 4 == 0


def test_encode_refuses_more_than_40_bytes() -> None:
    with pytest.raises(UsageError):
        encode_tcp_options([TcpOption(kind=K.NOP)] * 41)
    with pytest.raises(UsageError):
        syn_options(mss=70000)
    with pytest.raises(UsageError):
        TcpOption(kind=K.NOP, data=b"\x00")


options_st = st.lists(
    st.one_of(
        st.just(TcpOption(kind=K.NOP)),
        st.builds(
            lambda k, d: TcpOption(kind=K(k), data=d),
            st.integers(2, 255),
            st.binary(max_size=6),
        ),
    ),
    max_size=5,  # 5 x 8 bytes: the 40 an option area holds
)


@given(options_st)
def test_round_trip_any_options(options: list[TcpOption]) -> None:
    raw = encode_tcp_options(options, pad=False)
    decoded = decode_tcp_options(raw)
    assert decoded.options == tuple(options)
    assert not decoded.truncated


@given(st.binary(max_size=48), st.none() | st.integers(0, 60))
def test_any_bytes_decode_without_raising(data: bytes, area_len: int | None) -> None:
    opts = decode_tcp_options(data, area_len=area_len)
    assert isinstance(opts, TcpOptions)
    assert sum(o.wire_len for o in opts.options) <= len(data)
