"""`analyze --annotate OUT.pcapng`: the capture written again with a comment on each evidence frame.

Layer: jobs/. Checks the output path once (never the input itself), then reads
the input a second time, front to back, through capture/'s pcapng writer into a
temporary file beside OUT, renamed to OUT when complete: a failed run leaves no
half-written OUT. Memory stays bounded: the writer streams the capture, and what
is held is one comment per evidence frame.

Comments read as Wireshark users see them (`frame.comment`): one per frame,
"mtuscope: <kind>: <summary>", several findings on one frame joined by newlines.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from mtuscope.capture.pcapng_writer import annotate
from mtuscope.capture.source import open_source
from mtuscope.diagnose.findings import Finding
from mtuscope.errors import UsageError

COMMENT_PREFIX = "mtuscope"


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """The annotated copy `--annotate` wrote."""

    path: str
    """OUT, as given."""
    frames: int
    """Frames written (all of the input's, unless it is damaged: `complete`)."""
    commented: tuple[int, ...]
    """Frames that carry an mtuscope comment, ascending."""
    complete: bool
    """The whole input was copied."""


def check_output(out: str, inputs: tuple[str, ...]) -> None:
    """Refuse an `--annotate` path that cannot be written as asked.

    Raises:
        UsageError: more than one input or standard input (one capture is written
            again), OUT is the input itself (also through a link), or OUT's
            directory does not exist.
    """
    if len(inputs) != 1:
        raise UsageError(f"--annotate writes one capture again: {len(inputs)} files given")
    (source,) = inputs
    if source == "-":
        raise UsageError("--annotate needs a capture file, not standard input (read twice)")
    if out in ("", "-"):
        raise UsageError(f"--annotate {out!r}: give the path of the pcapng file to write")
    if os.path.realpath(out) == os.path.realpath(source) or (
        os.path.exists(out) and os.path.exists(source) and os.path.samefile(out, source)
    ):
        raise UsageError(f"--annotate {out}: that is the input capture; refusing to overwrite it")
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"--annotate {out}: no such directory {folder!r}")


def frame_comments(findings: Iterable[Finding], capture: str) -> dict[int, str]:
    """Frame -> its comment: "mtuscope: <kind>: <summary>" per finding citing the frame
    in `capture` (once per finding), several joined by newlines in report order."""
    lines: dict[int, list[str]] = {}
    for f in findings:
        text = f"{COMMENT_PREFIX}: {f.kind}: {f.summary}"
        for frame in dict.fromkeys(
            e.frame for e in f.evidence if e.capture == capture and e.frame is not None
        ):
            if frame is not None:
                lines.setdefault(frame, []).append(text)
    return {frame: "\n".join(texts) for frame, texts in sorted(lines.items())}


def write_annotated(source: str, out: str, findings: Iterable[Finding]) -> Annotation:
    """Write `source` again as pcapng at `out`, with a comment on each evidence frame.

    Args:
        source: the capture file analysed (pcap or pcapng, gzip too).
        out: the pcapng file to write (replaced if it exists; never `source`).
        findings: the findings whose evidence frames get a comment.

    Returns:
        What was written.

    Raises:
        UsageError: `out` cannot be written (see `check_output`; a write error).
        CaptureError: `source` cannot be read.
    """
    check_output(out, (source,))
    comments = frame_comments(findings, source)
    folder = os.path.dirname(out) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mtuscope-annotate-", suffix=".pcapng", dir=folder)
    except OSError as exc:
        raise UsageError(f"--annotate {out}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            src = open_source(source)
            try:
                summary = annotate(src, f, comments)
                if src.interrupted:  # Ctrl-C while a gzip stream was read: no partial OUT
                    raise KeyboardInterrupt
            finally:
                src.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        raise UsageError(f"--annotate {out}: cannot write: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Annotation(
        path=out, frames=summary.frames, commented=summary.commented, complete=summary.complete
    )
