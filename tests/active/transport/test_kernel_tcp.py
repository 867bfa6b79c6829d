"""tcp_mss: the kernel's view of a real connection, in our lab; tcp_info decoding."""

from __future__ import annotations

import struct
import time

import pytest

from mtuscope.active.mss import TransferVerdict
from mtuscope.active.probe import IPAddress, Probe, ProbeKind
from mtuscope.active.transport import KernelTcpFacts, RawTransport, decode_tcp_info, tcp_mss
from mtuscope.errors import ProbeError, UsageError

from .netlab import (
    BOTTLENECK,
    PORT,
    SERVED,
    SERVER4,
    SERVER6,
    Lab,
    new_book,
    run_in_netns,
    send_probes,
    wait_reply,
)

TARGET: dict[int, IPAddress] = {4: SERVER4, 6: SERVER6}
HEADERS = {4: 40, 6: 60}


def test_decode_tcp_info_reads_the_documented_offsets() -> None:
    data = bytearray(104)
    data[5] = 7
    for offset, value in ((16, 1348), (20, 536), (60, 1500), (84, 1460), (100, 3)):
        struct.pack_into("=I", data, offset, value)
    info = decode_tcp_info(bytes(data))
    assert (info.snd_mss, info.rcv_mss, info.pmtu, info.advmss) == (1348, 536, 1500, 1460)
    assert info.total_retrans == 3 and info.options == 7
    with pytest.raises(UsageError):
        decode_tcp_info(bytes(103))


def _facts(family: int, download: int) -> KernelTcpFacts:
    return tcp_mss(TARGET[family], PORT, timeout=3, download=download, max_seconds=8)


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_tcp_mss_reads_the_server_mss_and_a_whole_download(lab: Lab, family: int) -> None:
    facts = run_in_netns(lab.client, _facts, family, SERVED)
    server_mss = BOTTLENECK - HEADERS[family]
    # Timestamps are on (Linux default), so the send MSS is 12 bytes under the peer's MSS.
    assert facts.maxseg == server_mss - 12
    assert facts.info.snd_mss == facts.maxseg
    # Our route's MTU: the device's, or the bottleneck once an earlier probe's
    # too-big is in the kernel's cache. We announce what that MTU leaves, and
    # Linux keeps advmss 12 lower once timestamps are agreed.
    assert facts.info.pmtu in (1500, BOTTLENECK)
    assert facts.info.announced_mss == facts.info.pmtu - HEADERS[family]
    assert facts.info.advmss == facts.info.announced_mss - 12
    assert facts.transfer is not None and facts.transfer.moved_bytes == SERVED
    assert not facts.transfer.stalled
    # The server's segments were at most its MSS less the timestamp option.
    assert facts.transfer.largest_segment is not None
    assert 500 < facts.transfer.largest_segment <= server_mss
    assert facts.observation().verdict is TransferVerdict.COMPLETE


def _closed(family: int) -> str:
    try:
        tcp_mss(TARGET[family], PORT + 1, timeout=2)
    except ProbeError as exc:
        return str(exc)
    return "connected"


@pytest.mark.raw_socket
def test_a_refused_handshake_is_a_probe_error(lab: Lab) -> None:
    assert "failed" in run_in_netns(lab.client, _closed, 4)


def _combined(family: int) -> tuple[int | None, int | None, int | None, tuple[str, ...]]:
    """A raw SYN probe's SYN/ACK and a kernel connection, filed as one MssObservation."""
    with RawTransport(family) as transport:
        book = new_book()
        probe = Probe(
            id=3,
            family=family,
            dst=TARGET[family],
            size=200,
            ttl=64,
            kind=ProbeKind.TCP_SYN,
            dport=PORT,
        )
        send_probes(transport, [probe], book)
        reply = wait_reply(transport, 2, book)
        options = reply.tcp_options if reply is not None else None
    obs = tcp_mss(TARGET[family], PORT, timeout=3).observation(syn_ack=options, probe_id=3)
    return obs.server_announced, obs.client_announced, obs.effective, obs.syn_ack_options


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_syn_probe_and_kernel_facts_make_one_observation(lab: Lab, family: int) -> None:
    announced, ours, effective, names = run_in_netns(lab.client, _combined, family)
    assert announced == BOTTLENECK - HEADERS[family]
    assert ours in (1500 - HEADERS[family], BOTTLENECK - HEADERS[family])
    assert effective == announced - 12
    assert names[:2] == ("sack-permitted", "timestamps")
    assert len(names) == 3 and names[2].startswith("wscale=")  # the server's own shift


def _stalled(family: int) -> KernelTcpFacts:
    return tcp_mss(TARGET[family], PORT, timeout=3, download=SERVED, stall=0.5, max_seconds=3)


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_handshake_works_then_the_download_stalls_in_a_black_hole(
    lab: Lab, big_packets_dropped: None, family: int
) -> None:
    start = time.monotonic()
    facts = run_in_netns(lab.client, _stalled, family)
    assert time.monotonic() - start < 3
    assert facts.transfer is not None
    assert facts.transfer.handshake_ok and facts.transfer.stalled
    assert facts.transfer.moved_bytes < SERVED
    assert facts.observation().verdict is TransferVerdict.STALLED
