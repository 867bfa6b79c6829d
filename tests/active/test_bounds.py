"""SizeBounds: what is known about one MTU, and the next sizes to try."""

from __future__ import annotations

from mtuscope.active.bounds import SizeBounds


def fresh() -> SizeBounds:
    return SizeBounds(floor=1280, ceiling=1500, attempts=2)


def test_start_tries_the_ceiling() -> None:
    b = fresh()
    assert (b.lo, b.hi) == (1279, 1501)
    assert not b.any_reached and not b.converged
    assert b.next_sizes(8) == [1500]
    assert b.next_sizes(8, edge=1279) == [1500, 1280, 1280]
    assert b.next_sizes(8, edge=1400) == [1500]  # lo is not the edge: no point


def test_too_big_mtu_is_checked_from_both_sides() -> None:
    b = fresh()
    b.reached(1380)
    b.refused(1500, 1420)
    assert b.hi == 1500 and b.hints == {1420}
    assert b.next_sizes(8) == [1420, 1421]
    b.reached(1420)
    assert not b.converged  # a quoted MTU is a hint until one byte more is refused
    assert b.next_sizes(8) == [1421]
    b.refused(1421, 1420)
    assert b.converged and not b.by_silence and b.lo == 1420


def test_a_lying_mtu_is_found_out() -> None:
    b = fresh()
    b.refused(1500, 100)  # plausible for IPv4, and false
    b.reached(1400)
    assert b.next_sizes(30)[:2] != [100, 101]  # below what got through: no longer a hint
    b = fresh()
    b.refused(1300, 1290)
    assert b.next_sizes(8) == [1290, 1291]
    b.reached(1290)
    b.reached(1291)  # one byte more got through: the MTU was wrong
    assert not b.converged and b.lo == 1291


def test_one_silence_is_not_enough() -> None:
    b = fresh()
    b.reached(1400)
    b.lost(1401)
    assert not b.converged
    assert b.next_sizes(8) == [1401]  # the retry
    b.lost(1401)
    assert b.converged and b.by_silence and b.limit() == 1401


def test_silence_below_a_larger_silence_confirms_it() -> None:
    b = fresh()
    b.reached(1400)
    b.lost(1410)
    b.lost(1420)
    assert b.silent_limit() == 1420
    sizes = b.next_sizes(20)
    assert sizes[0] == 1410  # its retry
    assert sizes[1:] == [*range(1401, 1410), 1401]  # all interior, lo + 1 twice


def test_success_overrules_silence_and_wrong_too_big() -> None:
    b = fresh()
    b.lost(1400)
    b.lost(1400)
    b.refused(1410)
    b.reached(1420)  # the loss and the refusal were both wrong
    assert b.lo == 1420 and b.hi == 1501 and not b.hi_explicit
    assert b.silent_limit() is None


def test_refusal_without_mtu_searches_below() -> None:
    b = fresh()
    b.reached(1400)
    b.refused(1420)
    assert b.hi == 1420 and not b.hints
    assert b.next_sizes(30) == [*range(1401, 1420), 1401]
    b.refused(1401)
    assert b.converged and not b.by_silence


def test_wide_interval_is_split_evenly() -> None:
    b = SizeBounds(floor=68, ceiling=9000, attempts=2)
    b.lost(1280)
    b.lost(1280)
    sizes = b.next_sizes(4)
    # nothing reached yet: the floor is tried twice, plus evenly spaced points
    assert sizes.count(68) == 2
    assert sorted(set(sizes)) == sorted({68 + int(i * 1212 / 4) for i in range(4)})


TABLE = (1280, 1380, 1400, 1420, 1500)


def test_a_table_mtu_got_through_and_a_larger_size_silent_tests_one_byte_more_first() -> None:
    b = fresh()
    b.reached(1400)
    b.lost(1420)
    b.lost(1500)
    assert b.next_sizes(8, table=TABLE) == [1401, 1401, 1401]  # attempts + 1
    b.lost(1401)
    b.lost(1401)
    assert b.converged and b.by_silence and b.lo == 1400
    # without the table, the interior is searched at once, as before
    c = fresh()
    c.reached(1400)
    c.lost(1420)
    assert 1410 in c.next_sizes(30)


def test_when_one_byte_more_gets_through_the_interior_follows() -> None:
    b = fresh()
    b.reached(1400)
    b.lost(1420)
    b.reached(1401)
    sizes = b.next_sizes(8, table=TABLE)
    assert 1420 in sizes  # the silent top, confirmed
    assert len(set(sizes) - {1420}) == 8 and min(sizes) == 1402  # spaced over 1402..1419


def test_a_refusal_above_a_table_mtu_needs_one_probe_of_one_byte_more() -> None:
    b = fresh()
    b.reached(1400)
    b.refused(1420)  # a too-big message with no usable MTU
    assert b.next_sizes(8, table=TABLE) == [1401]
    b.refused(1401)
    assert b.converged and not b.by_silence


def test_one_silence_of_one_byte_more_is_retried_not_taken() -> None:
    b = fresh()
    b.reached(1400)
    b.lost(1420)
    b.lost(1401)  # once: maybe lost; the usual retry of the top follows
    assert not b.converged
    assert b.next_sizes(8, table=TABLE)[0] == 1401


def test_the_edge_is_a_likely_mtu_and_can_wait_for_the_ceiling() -> None:
    b = fresh()
    b.reached(1404)
    assert b.next_sizes(8, edge=1404) == [1500, 1405, 1405]
    assert b.next_sizes(8, edge=1404, edge_with_ceiling=False) == [1500]
    b.lost(1500)
    # the ceiling failed: "exactly the edge" is tested next, not the whole table
    assert b.next_sizes(8, edge=1404, table=TABLE) == [1405, 1405, 1405]
