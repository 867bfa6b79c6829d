"""report/middlebox_json.py: one body module for both kinds of "middlebox" report."""

from __future__ import annotations

import pytest

from mtuscope.errors import UsageError
from mtuscope.jobs.result import JobResult
from mtuscope.report.middlebox_json import body


def test_a_report_that_is_neither_walk_nor_check_is_refused() -> None:
    with pytest.raises(UsageError, match="not a middlebox report: JobResult"):
        body(JobResult(kind="middlebox", inputs=()))  # type: ignore[arg-type]
