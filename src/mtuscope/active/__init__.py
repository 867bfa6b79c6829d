"""Active probing: sans-IO probe engines (path MTU, hop trace, DF sweep) and MSS verdicts.

Layer: active/. The engines here never touch a socket, never sleep and never
read the clock; matching reply bytes to probes is pure and lives here
(matching.py); `active/transport` (a separate subpackage) is the only code
that sends and receives. Imports only wire/ and the error tree.
"""

from mtuscope.active.bounds import SizeBounds
from mtuscope.active.engine import Limits, TokenBucket
from mtuscope.active.hop_trace import Hop, HopTrace, HopTraceResult, MtuDrop
from mtuscope.active.matching import Matched, ProbeBook
from mtuscope.active.middlebox import MiddleboxTrace
from mtuscope.active.middlebox_result import MiddleboxResult
from mtuscope.active.mss import (
    Direction,
    MssObservation,
    RequestKind,
    TransferObservation,
    TransferVerdict,
    classify_transfer,
    combine_mss,
)
from mtuscope.active.path_mtu import MODERN_TABLE, PathMtuResult, PathMtuSearch
from mtuscope.active.probe import (
    DESTINATION_KINDS,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
    min_probe_size,
    usable_too_big,
)
from mtuscope.active.probe_packet import WireTag, encode_probe
from mtuscope.active.size_engine import ProbeEngine, ProbeRun
from mtuscope.active.sweep import DfSweep, SweepResult, SweepRow

__all__ = [
    "DESTINATION_KINDS",
    "DfSweep",
    "Direction",
    "Hop",
    "HopTrace",
    "HopTraceResult",
    "Limits",
    "MODERN_TABLE",
    "Matched",
    "MiddleboxResult",
    "MiddleboxTrace",
    "MssObservation",
    "MtuDrop",
    "PathMtuResult",
    "PathMtuSearch",
    "Probe",
    "ProbeBook",
    "ProbeEngine",
    "ProbeKind",
    "ProbeOutcome",
    "ProbeRecord",
    "ProbeRun",
    "Reply",
    "ReplyKind",
    "RequestKind",
    "SearchStop",
    "SizeBounds",
    "SweepResult",
    "SweepRow",
    "TokenBucket",
    "TransferObservation",
    "TransferVerdict",
    "WireTag",
    "classify_transfer",
    "combine_mss",
    "encode_probe",
    "min_probe_size",
    "usable_too_big",
]
