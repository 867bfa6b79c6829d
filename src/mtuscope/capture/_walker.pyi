"""Type stub of the compiled record walker (_walker.c); see walk.py for the contract."""

from typing import Any

def walk(
    buf: Any,
    pos: int,
    end: int,
    base_off: int,
    fmt: int,
    big_endian: bool,
    linktypes: Any,
    iface_base: int,
    max_caplen: int,
    records: Any,
    block: Any,
    /,
) -> tuple[int, int, int]: ...
def flows(
    src_hi: Any,
    src_lo: Any,
    sport: Any,
    dst_hi: Any,
    dst_lo: Any,
    dport: Any,
    flags: Any,
    payload: Any,
    frame: Any,
    ts: Any,
    ip_len: Any,
    family: Any,
    seq: Any,
    conn: Any,
    dir: Any,
    first: Any,
    keys: Any,
    ports: Any,
    stats: Any,
    /,
) -> int: ...
def sizes(columns: Any, out: Any, /) -> int: ...
