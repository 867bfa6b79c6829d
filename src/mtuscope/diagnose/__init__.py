"""Findings from one fixed vocabulary, with their evidence and advice.

Layer: diagnose/. Pure functions from measurements to `Finding`s. Each kind is
owned by one module `rules/<kind>.py`, for every source it applies to (its checks,
severity, reference and advice wording); `rules/__init__.py` is the registry. The
diagnosers run a source's checks in registry order: `diagnose_capture` (capture.py,
one capture), `diagnose_compare` (compare.py, two capture points), `diagnose_path`
(path.py, over `observations.PathObservations`: probe, trace, sweep),
`diagnose_middlebox` (middlebox.py, per-hop quotes), `diagnose_two_ended`
(responder.py). Only the vocabulary is re-exported here, so that importing it
stays cheap (the diagnosers pull in polars and the calculator).
"""

from mtuscope.diagnose.findings import KINDS, Evidence, Finding, Severity

__all__ = ["Evidence", "Finding", "KINDS", "Severity"]
