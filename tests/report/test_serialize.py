"""Tests for report/serialize.py: the JSON document and its streamed writing."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.diagnose.findings import KINDS, Evidence, Finding, Severity
from mtuscope.errors import UsageError
from mtuscope.jobs.result import JobResult
from mtuscope.report.serialize import (
    _write_rows,
    dumps_rows,
    envelope,
    findings_json,
    write_document,
)
from mtuscope.report.serialize import jsonable as _jsonable
from mtuscope.report.serialize import plain as _plain

_text = st.text(max_size=12)
_scalar = st.none() | st.integers(-(2**40), 2**40) | _text


class _LazyRows(list[dict[str, Any]]):
    """Renders its rows only when iterated, like report.capture_json.ConnectionRows."""

    json_ready = True

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self._rows = rows

    def __iter__(self) -> Any:
        return iter([dict(r) for r in self._rows])

    def __len__(self) -> int:
        return len(self._rows)


@st.composite
def _findings(draw: st.DrawFn) -> Finding:
    evidence = draw(
        st.lists(
            st.builds(
                Evidence,
                field=_text,
                observed=_scalar,
                expected=_scalar,
                capture=_text,
                frame=st.none() | st.integers(1, 10**6),
                note=st.none() | _text,
            ),
            min_size=1,
            max_size=3,
        )
    )
    return Finding(
        kind=draw(st.sampled_from(KINDS)),
        severity=draw(st.sampled_from(list(Severity))),
        summary=draw(_text.filter(lambda s: "\n" not in s)),
        evidence=tuple(evidence),
        advice=draw(_text),
        connection=draw(st.none() | st.integers(1, 10**5)),
        facts=draw(st.dictionaries(_text, _scalar, max_size=4)),
    )


@given(_findings())
def test_plain_is_jsonable_of_asdict(finding: Finding) -> None:
    assert _plain(finding) == _jsonable(dataclasses.asdict(finding))
    assert json.dumps(_plain(finding)) == json.dumps(_jsonable(dataclasses.asdict(finding)))


@given(
    st.lists(_findings(), max_size=3),
    st.lists(st.dictionaries(_text, _scalar, max_size=3), max_size=9),
    st.integers(1, 4),
    _text,
)
def test_write_json_is_the_document_of_to_dict(
    findings: list[Finding], rows: list[dict[str, Any]], batch: int, note: str
) -> None:
    body = {
        "captures": [{"path": note}],
        "connections": _LazyRows(rows),
        "extra": [note],
        "more": _LazyRows(rows[::-1]),
    }
    head = envelope(
        JobResult(kind="capture", inputs=("a.pcap",), findings=tuple(findings), warnings=(note,))
    )
    out = io.StringIO()
    write_document(head, body, out)
    assert out.getvalue().endswith("}\n")
    whole = {**head, **_jsonable(body)}
    assert json.loads(out.getvalue()) == json.loads(json.dumps(whole))
    assert json.loads(out.getvalue())["connections"] == rows
    assert head["findings"] == findings_json(tuple(findings))
    small = io.StringIO()
    _write_rows(small, iter(rows), batch)
    assert json.loads(small.getvalue()) == rows  # orjson's compact text, json's values


def test_write_json_batches_rows() -> None:
    rows = [{"id": i, "capture": "x"} for i in range(10_000)]
    head = envelope(JobResult(kind="capture", inputs=()))
    body = {"connections": _LazyRows(rows), "n": 1}
    out = io.StringIO()
    write_document(head, body, out)
    assert json.loads(out.getvalue()) == {**head, "n": 1, "connections": rows}


@given(
    st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_rows_text_parses_to_the_rows(rows: list[Any]) -> None:
    """orjson's text (or json's, for integers beyond 64 bits) holds the same values."""
    text = dumps_rows(rows)
    assert json.loads(text) == rows == json.loads(json.dumps(rows))
    assert text.startswith("[") and text.endswith("]")


def test_rows_beyond_64_bits_fall_back_to_json() -> None:
    assert dumps_rows([{"n": 2**64}, "é"]) == json.dumps([{"n": 2**64}, "é"])
    assert dumps_rows([{"n": 2**64 - 1}, "é"]) == '[{"n":18446744073709551615},"é"]'


def test_write_json_without_lazy_rows() -> None:
    head = envelope(JobResult(kind="calc", inputs=("ether",)))
    body = {"mtu": 1500, "layers": ["ipv4"]}
    out = io.StringIO()
    write_document(head, body, out)
    assert out.getvalue() == json.dumps({**head, **body}) + "\n"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown report kind"):
        JobResult(kind="nonsense", inputs=())
