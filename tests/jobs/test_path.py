"""jobs/path.py: the options the path verbs share, checked once, and the probe-kind words."""

from __future__ import annotations

import pytest

from mtuscope.active.probe import ProbeKind
from mtuscope.errors import UsageError
from mtuscope.jobs.path import KINDS, PathOptions, probe_kind
from mtuscope.jobs.probe import ProbeOptions
from mtuscope.jobs.sweep import SweepOptions


@pytest.mark.parametrize(
    "kwargs",
    [
        {"family": 5},
        {"port": 0},
        {"port": 70000},
        {"kind": "tcp"},  # a word, not a ProbeKind: the CLI maps words through probe_kind
        {"kind": ProbeKind.TCP_SYN},  # TCP probes need a port
        {"rate": 0},
        {"timeout": -1},
        {"budget": 0},
        {"max_seconds": 0},
        {"raw": True, "unprivileged": True},
        {"platform": "no-such-router"},
    ],
)
def test_bad_options_are_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        PathOptions(host="127.0.0.1", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"download": 100}, {"download": -1, "port": 80}])
def test_a_download_needs_a_port_and_a_count(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="--download"):
        ProbeOptions(host="127.0.0.1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        ProbeOptions(host="127.0.0.1", family=7, download=0)


def test_the_subclasses_check_the_shared_options_too() -> None:
    with pytest.raises(UsageError):
        SweepOptions(host="127.0.0.1", port=0, start=100, stop=200)
    opts = SweepOptions(host="127.0.0.1", start=100, stop=200)
    assert (opts.step, opts.count, opts.budget) == (1, 1, 200)


def test_the_platform_is_stored_under_its_canonical_name() -> None:
    from mtuscope.calc.snippets import PLATFORMS

    name = sorted(PLATFORMS)[0]
    assert PathOptions(host="h", platform=name).platform == name
    assert PathOptions(host="h").platform is None


def test_kind_words_map_to_probe_kinds() -> None:
    assert probe_kind(None) is None
    assert probe_kind("tcp") is ProbeKind.TCP_SYN
    assert {probe_kind(w) for w in KINDS} == set(ProbeKind)
    with pytest.raises(UsageError, match="--kind 'sctp'"):
        probe_kind("sctp")
