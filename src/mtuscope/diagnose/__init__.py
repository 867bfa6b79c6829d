"""Findings from one fixed vocabulary, with their evidence and advice.

Layer: diagnose/. Pure functions from measurements to `Finding`s: `capture.py`
(one capture), `compare.py` (two capture points), `path.py` (active probing),
`middlebox.py` (per-hop quotes), `responder.py` (two-ended tests), and one rule
per finding kind in `rules/`. Only the vocabulary is re-exported here, so that
importing it stays cheap (the diagnosers pull in polars and the calculator).
"""

from mtuscope.diagnose.findings import KINDS, Evidence, Finding, Severity

__all__ = ["Evidence", "Finding", "KINDS", "Severity"]
