"""The C walker's header offsets against wire/'s layout declarations.

`_walker.c` cannot import Python, so it names every header field it reads in a
`#define <LAYOUT>_AT_<FIELD> offset` (and `<LAYOUT>_SIZE size`). This test parses
those lines from the C source and checks each against the Python declaration, so
a change on one side fails until the other follows. The pure-Python twin
(walk.py) takes its offsets from the declarations directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mtuscope.capture
import mtuscope.wire as wire
from mtuscope.capture.records import NO_LINKTYPE
from mtuscope.wire import Layout, LinkType

SOURCE = Path(mtuscope.capture.__file__).with_name("_walker.c")
LAYOUTS: dict[str, Layout] = {
    name.removesuffix("_LAYOUT"): getattr(wire, name)
    for name in wire.__all__
    if name.endswith("_LAYOUT")
}
"""Every layout wire/ declares, by the prefix its C names use (IPV4_LAYOUT -> IPV4)."""
_PREFIX = "|".join(sorted(LAYOUTS, key=len, reverse=True))
_AT = re.compile(rf"^#define ({_PREFIX})_AT_([A-Z0-9_]+)\s+(\d+)\s*$", re.M)
_SIZE = re.compile(rf"^#define ({_PREFIX})_SIZE\s+(\d+)\s*$", re.M)


def _defines() -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    text = SOURCE.read_text()
    offsets = [(lay, field.lower(), int(n)) for lay, field, n in _AT.findall(text)]
    sizes = [(lay, int(n)) for lay, n in _SIZE.findall(text)]
    return offsets, sizes


def _disagreements(layouts: dict[str, Layout]) -> list[str]:
    """Every C `#define` whose offset or size is not the one `layouts` declare."""
    offsets, sizes = _defines()
    wrong = [
        f"{lay}_AT_{field.upper()}" for lay, field, n in offsets if layouts[lay].offset(field) != n
    ]
    return wrong + [f"{lay}_SIZE" for lay, n in sizes if layouts[lay].size != n]


def test_every_c_offset_and_size_is_the_declared_one() -> None:
    assert _disagreements(LAYOUTS) == []


def test_the_c_source_names_what_the_walker_reads() -> None:
    # Guards the two tests above against passing on nothing (a renamed prefix).
    offsets, sizes = _defines()
    named = {(lay, field) for lay, field, _ in offsets}
    assert {
        ("IPV4", "version_ihl"),
        ("IPV4", "flags_fragment"),
        ("IPV4", "proto"),
        ("IPV6", "next_header"),
        ("IPV6_EXTENSION", "next_header"),
        ("IPV6_EXTENSION", "length"),
        ("IPV6_FRAGMENT", "next_header"),
        ("IPV6_FRAGMENT", "offset_flags"),
        ("UDP", "sport"),
        ("UDP", "dport"),
    } <= named
    assert {lay for lay, _ in sizes} >= {"IPV4", "IPV6", "IPV6_FRAGMENT", "UDP"}


def test_no_raw_offset_is_left_in_the_ip_walk() -> None:
    # The IP section of walk_frame reads header bytes only through the names above.
    text = SOURCE.read_text()
    start = text.index("/* ---- an IP header at `off` ---- */")
    section = text[start : text.index("/* ---- tunnels ---- */", start)]
    assert not re.search(r"d\[off \+ \d+\]|u16be\(d \+ off \+ \d+\)", section)


@pytest.mark.parametrize("layout_name", sorted(LAYOUTS))
def test_a_changed_declaration_would_fail(layout_name: str) -> None:
    # The check above, run against a layout whose fields moved by one byte (and
    # so grew by one), must name every C define of that layout.
    offsets, sizes = _defines()
    layout = LAYOUTS[layout_name]
    moved = Layout("moved", "RFC 0", ("pad", 1), *((f.name, f.width) for f in layout.fields))
    expected = [f"{layout_name}_AT_{f.upper()}" for lay, f, _ in offsets if lay == layout_name]
    expected += [f"{layout_name}_SIZE" for lay, _ in sizes if lay == layout_name]
    assert sorted(_disagreements({**LAYOUTS, layout_name: moved})) == sorted(expected)


def test_every_c_link_type_is_the_enum_one() -> None:
    text = SOURCE.read_text()
    found = re.findall(r"^#define LINKTYPE_([A-Z0-9_]+)\s+(\d+)\s*$", text, re.M)
    assert len(found) >= 15
    for name, value in found:
        assert LinkType[name] == int(value), f"LINKTYPE_{name}"
    # every link type the walker handles is named, none is a bare number in the switch
    start = text.index("relink:")
    switch = text[start : text.index("ST_UNKNOWN", start)]
    assert not re.search(r"case \d+:|lt == \d+", switch)
    assert {LinkType[name] for name, _ in found} == set(LinkType)
    nl = re.search(r"^#define NO_LINKTYPE (0x[0-9A-Fa-f]+)u?", text, re.M)
    assert nl is not None and int(nl.group(1), 16) == NO_LINKTYPE
