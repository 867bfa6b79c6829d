"""The compare report as HTML: the comparison's story and the findings.

Layer: report/. The story is `compare_text.compare_story`'s lines (one
wording for the terminal and the page); the findings come from their JSON
form through `report.html`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtuscope.report.compare_text import compare_story
from mtuscope.report.html import esc, findings_html, warnings_html
from mtuscope.report.serialize import findings_json

if TYPE_CHECKING:
    from mtuscope.jobs.compare import CompareReport


def render_html(result: CompareReport, *, names: dict[str, str] | None = None) -> str:
    """The report as an HTML fragment.

    Args:
        result: the compare job's result.
        names: what to call each input path (an upload's own file name, not its temp path).
    """
    names = names or {}
    story = "\n".join(compare_story(result))
    warnings = list(result.warnings)
    for path, name in names.items():
        story = story.replace(path, name)
        warnings = [w.replace(path, name) for w in warnings]
    return (
        '<section class="report compare"><h2>Findings</h2>'
        + findings_html(findings_json(result.findings))
        + warnings_html(warnings)
        + f'<h2>The two capture points</h2><pre class="story">{esc(story)}</pre></section>'
    )
