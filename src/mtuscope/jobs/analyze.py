"""The analyze job: capture files in, connections, ICMP too-big messages and findings out.

Layer: jobs/. Checks what the user typed once (`AnalyzeOptions`), reads each
capture through `mtuscope.jobs.captures` (files, threads), finishes and
diagnoses it with the pure cores, and returns a typed `CaptureResult` that
report/ renders. Connection ids run 1..n over the first capture and continue
over the next ones; they are final when `finish` assigns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address

from mtuscope.capture.reader import CaptureInfo
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.findings import Finding
from mtuscope.errors import CaptureError, UsageError
from mtuscope.jobs.annotate import Annotation, check_output, write_annotated
from mtuscope.jobs.captures import Progress, decode_warning
from mtuscope.jobs.inputs import check_platform, split_host_port
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.jobs.many import SPLIT_BYTES, check_scheduler, find_captures, read_all
from mtuscope.jobs.result import JobResult
from mtuscope.passive import CaptureAnalysis, finish
from mtuscope.passive.host_filter import HostFilter


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyzeOptions:
    """What to analyse, checked on construction."""

    paths: tuple[str, ...]
    """Capture files ('-' for standard input), pcap or pcapng, optionally gzip."""
    filter: str | None = None
    """HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address (numeric): keep only its packets."""
    platform: str | None = None
    """A configuration platform (aliases allowed) for snippets in the advice."""
    chunk_bytes: int = 32 << 20
    """File bytes per chunk (bounds memory)."""
    workers: int | None = None
    """Threads decoding and analysing chunks (default: up to 2)."""
    annotate: str | None = None
    """`--annotate OUT`: write the (one) capture again as pcapng with a comment on every
    evidence frame (`jobs.annotate`)."""
    jobs: int | None = None
    """Local processes for many captures (default: all cores; 1: in this process)."""
    scheduler: str | None = None
    """tcp://HOST:PORT of a Dask scheduler: run the captures' partials on its workers."""
    split_bytes: int = SPLIT_BYTES
    """On processes or Dask, captures larger than this are cut into chunk ranges."""
    host_filter: HostFilter | None = field(init=False, default=None)
    """`filter`, parsed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))  # a list from JSON, too
        if not self.paths:
            raise UsageError("no capture file given")
        object.__setattr__(self, "platform", check_platform(self.platform))
        if self.filter is not None:
            object.__setattr__(self, "host_filter", parse_filter(self.filter))
        if self.annotate is not None:
            check_output(self.annotate, self.paths)
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs}: at least 1")
        if self.scheduler is not None:
            check_scheduler(self.scheduler)
            if self.jobs is not None:
                raise UsageError("--jobs and --scheduler: one or the other (Dask has its workers)")
        if self.split_bytes < 1:
            raise UsageError(f"split_bytes {self.split_bytes}: at least 1")


def parse_filter(text: str) -> HostFilter:
    """HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address, as a `HostFilter`.

    Raises:
        UsageError: not a numeric address, or a port that is not in 1..65535.
    """
    host, port = split_host_port(text, what="--filter", port_required=False)
    try:
        address = ip_address(host)
    except ValueError:
        raise UsageError(f"--filter {text!r}: {host!r} is not a numeric IP address") from None
    return HostFilter(address=address, port=port)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureFile:
    """One capture file as the reader saw it."""

    path: str
    """As given."""
    info: CaptureInfo
    """Format, link types, frames and bytes read."""
    host_filter: HostFilter | None
    """The filter its packets went through, if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureResult(JobResult):
    """What the analyze job found in its capture files (kind "capture")."""

    captures: tuple[CaptureFile, ...]
    """The files, in the order given."""
    analyses: tuple[CaptureAnalysis, ...]
    """One per file, in the same order; connection ids continue from one to the next."""
    annotation: Annotation | None = None
    """The annotated copy written for `--annotate`, if one was asked for and written."""

    @property
    def connection_count(self) -> int:
        """Connections over all captures."""
        return sum(a.connection_count for a in self.analyses)


@INTERRUPTS.keeping()
def analyze(opts: AnalyzeOptions, *, progress: Progress | None = None) -> CaptureResult:
    """Analyse capture files (and the captures under directories) into one result.

    Each capture is analysed on its own (connection ids run on from one to the
    next); on several processes or a Dask cluster (`mtuscope.jobs.many`) the result
    is the same as here.

    Args:
        opts: the checked options.
        progress: called as progress(path, bytes_done, bytes_total) after each chunk
            (on processes or Dask: progress("N captures", ...) after each unit).

    Returns:
        The captures, their analyses and findings; damage after the first good
        records and frames that did not decode fully are warnings, and so is a
        capture that cannot be read at all when another one could. In this process,
        an interrupt (SIGINT/SIGTERM) ends the reading: what was read is analysed, a
        warning says "interrupted after N packets", and later files are skipped; on
        processes or Dask the captures finished are kept and a warning says
        "interrupted after K of N captures".

    Raises:
        CaptureError: no capture could be read at all (the first one's line).
        UsageError: a directory holds no capture.
    """
    found = find_captures(opts.paths)
    if opts.annotate is not None and len(found.files) != 1:
        # Before any reading: one capture is written again, so a directory must hold one.
        raise UsageError(
            f"--annotate writes one capture again: {len(found.files)} captures found under "
            f"{opts.paths[0]}"
        )
    captures: list[CaptureFile] = []
    analyses: list[CaptureAnalysis] = []
    findings: list[Finding] = []
    warnings: list[str] = list(found.warnings)
    unread: list[CaptureError] = []
    next_id = 1
    read_cut: int | None = None
    reads = read_all(
        found.files,
        host_filter=opts.host_filter,
        chunk_bytes=opts.chunk_bytes,
        workers=opts.workers,
        jobs=opts.jobs,
        scheduler=opts.scheduler,
        split_bytes=opts.split_bytes,
        progress=progress,
    )
    while True:
        try:
            path, read = next(reads)
        except StopIteration:
            break
        except KeyboardInterrupt:
            # On processes or Dask (in this process the reader keeps what it read):
            # the captures finished so far are reported, the others are not waited for.
            taken = len(captures) + len(unread)
            warnings.append(
                f"interrupted after {taken} of {len(found.files)} captures; "
                "the others were not analysed"
            )
            break
        if isinstance(read, CaptureError):
            # One bad capture among several is a warning; all of them bad is the error.
            unread.append(read)
            warnings.append(str(read))
            continue
        info, issues, read_cut = read.info, read.issues, read.interrupted_after
        analysis = finish(read.partial, first_id=next_id)
        del read  # the partial: only the analysis is needed from here on
        next_id += analysis.connection_count
        analyses.append(analysis)
        findings.extend(diagnose_capture(analysis, platform=opts.platform))
        warnings.extend(info.warnings)
        if (line := decode_warning(path, issues)) is not None:
            warnings.append(line)
        captures.append(CaptureFile(path=path, info=info, host_filter=opts.host_filter))
        if read_cut is not None:
            # Interrupted: report what was read; the files after this one are not opened.
            warnings.append(f"{path}: interrupted after {read_cut} packets")
            break
    if unread and not captures:
        raise _none_read(unread)
    annotation = None
    if opts.annotate is not None:
        if read_cut is None and not INTERRUPTS.requested:
            annotation = write_annotated(found.files[0], opts.annotate, findings)
            if not annotation.complete:
                warnings.append(f"{opts.annotate}: the input is damaged after frame "
                                f"{annotation.frames}: the annotated copy ends there")  # fmt: skip
        else:
            warnings.append(f"{opts.annotate}: not written: the reading was interrupted")
    return CaptureResult(
        kind="capture",
        inputs=found.files,
        findings=tuple(findings),
        warnings=tuple(warnings),
        captures=tuple(captures),
        analyses=tuple(analyses),
        annotation=annotation,
    )


def _none_read(unread: list[CaptureError]) -> CaptureError:
    """The error when no capture could be read: the first one's line, and how many more."""
    first = unread[0]
    if len(unread) == 1:
        return first
    more = f" (and {len(unread) - 1} more captures could not be read)"
    return CaptureError(
        f"{first.args[0]}{more}", path=first.path, offset=first.offset, frame=first.frame
    )
