"""The command line: argument parsing only.

Layer: edge. Each verb lives in its own module with `add_parser(subparsers)`
and `run(args)`, which builds the job's options from the arguments, calls the
one job function of jobs/ and returns its `JobResult` (or an exit code, for
verbs that only print); this module dispatches, renders the result (report/:
text, or `--json` through the one serializer) and maps the outcome to the exit
codes of docs/architecture.md ("Results and output"):
0 no error-severity finding, 1 one or more, 2 bad input or usage,
3 missing privilege or environment.

Interrupts: SIGINT and SIGTERM go to `jobs.interrupts.INTERRUPTS`; the jobs stop
where they wait (the probe driver, the capture reader) and return what they found
so far, which is printed (text or JSON, stop reason `interrupted`) before exiting
with 130. A second signal exits at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, ModuleType

from mtuscope import __version__
from mtuscope.errors import CaptureError, DecodeError, MtuscopeError, RawSocketDenied, UsageError
from mtuscope.jobs.interrupts import EXIT_INTERRUPTED, INTERRUPTS, Interrupts
from mtuscope.jobs.result import JobResult

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3


@contextmanager
def _catching_interrupts() -> Iterator[Interrupts]:
    """Route SIGINT and SIGTERM to `INTERRUPTS` (main thread only) and put the previous
    handlers back afterwards."""
    INTERRUPTS.reset()
    if threading.current_thread() is not threading.main_thread():
        yield INTERRUPTS
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        INTERRUPTS.request()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield INTERRUPTS
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _verbs() -> list[ModuleType]:
    # Imported here so `mtuscope --help` stays fast and a verb's heavy imports
    # load only when it runs.
    from mtuscope.cli import (
        agent,
        analyze,
        calc,
        compare,
        lab,
        middlebox,
        probe,
        responder,
        serve,
        sweep,
        trace,
    )

    return [
        analyze, compare, probe, trace, sweep, middlebox, responder, calc, lab, serve, agent
    ]  # fmt: skip


class _ParseError(UsageError):
    """What argparse refused, with the prog of the (sub)parser that refused it."""

    def __init__(self, message: str, *, prog: str) -> None:
        super().__init__(message)
        self.prog = prog
        """Who speaks: "mtuscope", "mtuscope probe", "mtuscope lab run"."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's is NoReturn
        raise _ParseError(message, prog=self.prog)


def _name_speakers(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)parser's namespace its prog, the one prefix of its error lines."""
    parser.set_defaults(prog=parser.prog)
    for action in parser._actions:  # argparse keeps sub-parsers nowhere public
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _name_speakers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtuscope", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.description = "Finds and explains Path-MTU and TCP-MSS problems."
    parser.add_argument("--version", action="version", version=f"mtuscope {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb in _verbs():
        verb.add_parser(sub)
    _name_speakers(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; returns the process exit code.

    Every line mtuscope itself writes to stderr starts with who speaks, once:
    `mtuscope probe: ...` (the verb's prog; `mtuscope: ...` before a verb is
    known). Messages of exceptions never name the verb themselves.
    """
    with _catching_interrupts() as seen:
        code = _main(argv)
        return EXIT_INTERRUPTED if seen.requested else code


def _main(argv: Sequence[str] | None) -> int:
    args = argparse.Namespace(prog="mtuscope")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        run: Callable[[argparse.Namespace], JobResult | int] = args.run
        report = run(args)
        if isinstance(report, int):  # verbs that print as they go (lab) return their exit code
            return report
    except _ParseError as exc:
        return _fail(exc.prog, str(exc), EXIT_USAGE)
    except UsageError as exc:
        return _fail(args.prog, str(exc), EXIT_USAGE)
    except (CaptureError, DecodeError) as exc:
        return _fail(args.prog, str(exc), EXIT_USAGE)
    except RawSocketDenied as exc:
        return _fail(args.prog, str(exc), EXIT_ENV)
    except MtuscopeError as exc:
        return _fail(args.prog, str(exc), EXIT_ENV)
    except KeyboardInterrupt:
        return _fail(args.prog, "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return EXIT_OK
    try:
        if getattr(args, "json", False):
            from mtuscope.report.serialize import write_json

            write_json(report, sys.stdout)
        else:
            from mtuscope.report.text import render_text

            render_text(report, sys.stdout, columns=_columns())
        for warning in report.warnings:
            print(f"{args.prog}: warning: {warning}", file=sys.stderr)
    except KeyboardInterrupt:
        # Interrupted while printing the partial report: what is out stays out.
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_FINDING if report.has_error else EXIT_OK


def _columns() -> int | None:
    """`COLUMNS` when it holds a width: text is wrapped there even when piped."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and int(text) > 0 else None


def _fail(prog: str, message: str, code: int) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code
