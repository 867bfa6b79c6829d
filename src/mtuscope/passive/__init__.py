"""passive: analyses over `PacketTable` chunks whose partial results merge.

Layer: passive/. Pure functions over columns; no I/O, no clock. Use::

    p = analyse(chunk1, capture="a.pcap")
    p = merge(p, analyse(chunk2, capture="a.pcap"))   # associative, chunks in file order
    result = finish(p)                                 # frozen CaptureAnalysis

The comparison of two capture points (`compare_connections`, `compare_summary`,
`compare`) uses the same flow extraction (`flows`, `icmp`): the same TCP rows,
connection keys and ids, client rule and too-big messages. Rendering the results
is report/'s; reading the files is jobs/'s.
"""

from mtuscope.passive.chunk import analyse
from mtuscope.passive.finish import finish
from mtuscope.passive.merge import merge, regroup
from mtuscope.passive.partial import SPAN, CapturePartial
from mtuscope.passive.results import (
    BlackHole,
    CaptureAnalysis,
    Connection,
    Endpoint,
    FragmentFlow,
    IcmpTooBig,
    OversizedSegments,
    ReceiverBlackHole,
    SegmentSize,
    SynOptionsChange,
)
from mtuscope.passive.ttl import initial_ttl_guess, sender_hint

__all__ = [
    "BlackHole",
    "CaptureAnalysis",
    "CapturePartial",
    "Connection",
    "Endpoint",
    "FragmentFlow",
    "IcmpTooBig",
    "OversizedSegments",
    "ReceiverBlackHole",
    "SPAN",
    "SegmentSize",
    "SynOptionsChange",
    "analyse",
    "finish",
    "initial_ttl_guess",
    "merge",
    "regroup",
    "sender_hint",
]
