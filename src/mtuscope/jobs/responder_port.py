"""The TCP port `mtuscope responder` listens on and `responder-check` connects to by default.

Layer: jobs/. One constant in a module of its own, so that the CLI's `--help` can
show it without importing the service or the client (and so that both ends
always agree on it).
"""

RESPONDER_PORT = 40777
"""The responder's TCP port unless told otherwise (an unassigned registered port)."""

__all__ = ["RESPONDER_PORT"]
