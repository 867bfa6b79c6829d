"""The registry of diagnose/rules: every kind has one home, every check sits in it."""

from __future__ import annotations

import importlib
import inspect

import pytest

from mtuscope.diagnose.findings import KINDS, Evidence, Finding, Severity
from mtuscope.diagnose.rules import (
    PLANNED,
    RULES,
    SOURCE_CHECKS,
    Source,
    kind_of,
    rule,
    sources,
)
from mtuscope.errors import UsageError


def module_of(kind: str) -> str:
    return f"mtuscope.diagnose.rules.{kind.replace('-', '_')}"


def test_kinds_and_registry_agree() -> None:
    # PLANNED is what KINDS has and RULES lacks: a rule module left out of RULES shows here.
    assert PLANNED == ("ip-header-changed",)
    assert len(RULES) + len(PLANNED) == len(KINDS)
    for kind, r in RULES.items():
        assert r.kind == kind
        assert importlib.import_module(module_of(kind)).RULE is r


@pytest.mark.parametrize("source", list(Source))
def test_each_check_lives_in_the_module_of_its_kind(source: Source) -> None:
    checks = SOURCE_CHECKS[source]
    assert checks
    for check in checks:
        kind = kind_of(check)
        assert kind in RULES and check.__module__ == module_of(kind), (kind, check)


def test_every_check_function_is_registered() -> None:
    registered = {check for checks in SOURCE_CHECKS.values() for check in checks}
    for kind in RULES:
        module = importlib.import_module(module_of(kind))
        found = {
            f
            for name, f in inspect.getmembers(module, inspect.isfunction)
            if name.startswith("check_") and f.__module__ == module.__name__
        }
        assert found and found <= registered, kind


def test_sources_of_a_kind() -> None:
    assert sources("mss-rewritten") == {
        Source.CAPTURE,
        Source.COMPARE,
        Source.PATH,
        Source.MIDDLEBOX,
        Source.TWO_ENDED,
    }
    assert sources("oversized-mss") == {Source.CAPTURE, Source.PATH}
    assert sources("mtu-drop") == {Source.PATH}
    every = {Source.PATH, Source.MIDDLEBOX, Source.TWO_ENDED, Source.COMPARE}
    assert sources("tcp-proxy") == every
    assert sources("address-translated") == {Source.TWO_ENDED, Source.COMPARE}
    assert sources("ip-header-changed") == frozenset()
    assert all(sources(kind) for kind in RULES)


def test_rule_lookup_refuses_unknown_and_planned_kinds() -> None:
    assert rule("mtu-drop").kind == "mtu-drop"
    with pytest.raises(UsageError, match="unknown finding kind"):
        rule("no-such-kind")
    with pytest.raises(UsageError, match="no rule yet"):
        rule("ip-header-changed")


def test_rule_finding_fills_the_kind_defaults() -> None:
    evidence = (Evidence(field="probe.size", observed=1400, probe=1),)
    f = RULES["mtu-drop"].finding(
        summary="x", evidence=evidence, facts={"to_mtu": 1400}, platform=None
    )
    assert f.kind == "mtu-drop" and f.severity is Severity.INFO
    assert f.reference == "RFC 1191 §3; RFC 8201 §4" and "1400" in f.advice
    g = RULES["mtu-drop"].finding(
        summary="x",
        evidence=evidence,
        facts={"to_mtu": 1400},
        platform="linux",
        severity=Severity.WARNING,
        reference="RFC 4821",
        connection=3,
    )
    assert (g.severity, g.reference, g.connection) == (Severity.WARNING, "RFC 4821", 3)
    assert "\n" in g.advice and "mtu 1400" in g.advice
    with pytest.raises(UsageError):
        RULES["mtu-drop"].finding(summary="x", evidence=evidence, facts={}, platform="vax-vms")


def test_finding_and_evidence_raise_usage_errors() -> None:
    ok = Evidence(field="tcp.len", observed=1, capture="a.pcap", frame=1)
    with pytest.raises(UsageError, match="1-based"):
        Evidence(field="tcp.len", observed=1, capture="a.pcap", frame=0)
    with pytest.raises(UsageError, match="name its source"):
        Evidence(field="tcp.len", observed=1)
    base = {"severity": Severity.INFO, "summary": "s", "evidence": (ok,), "advice": "a"}
    with pytest.raises(UsageError, match="unknown finding kind"):
        Finding(kind="nope", **base)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="one line"):
        Finding(kind="mtu-drop", **{**base, "summary": "a\nb"})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no evidence"):
        Finding(kind="mtu-drop", **{**base, "evidence": ()})  # type: ignore[arg-type]
    assert Finding(kind="tcp-proxy", **base).kind == "tcp-proxy"  # type: ignore[arg-type]
