"""The CLI contract of docs/contracts.md: `--help` lists every verb, and every verb has `--json`."""

from __future__ import annotations

import argparse

import pytest

from mtuscope.cli import build_parser, main

VERBS = (
    "analyze", "compare", "probe", "trace", "sweep", "middlebox",
    "responder", "responder-check", "calc", "lab", "serve", "agent",
)  # fmt: skip
NO_JSON = {"lab run", "serve", "agent"}
"""`lab run` runs a command in a lab node: that command's output and exit status are the
result. `serve` and `agent` are services: their results go to the store and the server
(and out through the HTTP API as JSON), not to stdout."""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(verb in out for verb in VERBS)
    assert set(_subparsers(build_parser())) == set(VERBS)


def test_every_verb_has_json() -> None:
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        nested = _subparsers(sub)
        targets = {f"{name} {k}": v for k, v in nested.items()} if nested else {name: sub}
        for full, parser in targets.items():
            if full not in NO_JSON and "--json" not in _options(parser):
                missing.append(full)
    assert not missing, f"verbs without --json: {missing}"
