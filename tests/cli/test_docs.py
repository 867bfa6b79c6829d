"""The repository's own documents say what the code does (issue 9 pt 16).

docs/contracts.md is the contract for the world outside, in the repository (not
a design note beside it); the README and the docs point only at files that exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mtuscope.diagnose.findings import KINDS
from mtuscope.jobs.result import REPORT_KINDS

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "docs" / "contracts.md"


def _table_kinds(text: str, heading: str) -> list[str]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)


def test_contracts_list_every_finding_kind_in_order() -> None:
    assert _table_kinds(CONTRACTS.read_text(), "Finding kinds") == list(KINDS)


def test_contracts_list_every_report_kind_and_the_schema_agrees() -> None:
    assert _table_kinds(CONTRACTS.read_text(), "JSON reports") == list(REPORT_KINDS)
    schema = json.loads((REPO / "src/mtuscope/report/schema.json").read_text())
    assert schema["properties"]["kind"]["enum"] == list(REPORT_KINDS)
    lab = json.loads((REPO / "src/mtuscope/lab/schema.json").read_text())
    assert lab["properties"]["kind"] == {"const": "lab"}


def test_documents_point_only_inside_the_repository() -> None:
    documents = [REPO / "README.md", REPO / "examples" / "README.md", *REPO.glob("docs/*.md")]
    for doc in documents:
        text = doc.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, doc
        # Every repository path written in backquotes exists.
        for path in re.findall(r"`((?:docs|src|tests|examples|scripts)/[\w./-]+)`", text):
            if "<" not in path and "*" not in path:
                assert (REPO / path).exists() or (doc.parent / path).exists(), (doc, path)
