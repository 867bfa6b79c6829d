"""What a rule module declares about its finding kind, and the one way to build a finding.

Layer: diagnose/. Pure; no I/O. Each `diagnose/rules/<kind>.py` holds one `RULE`:
the kind, its default severity and reference, and its advice wording (which
sources it reads is in the registry's per-source tables). `Rule.finding` fills in
those defaults and the advice (with calc/'s configuration lines for a platform), so
that the check functions only say what they saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mtuscope.calc.advice import config_snippet
from mtuscope.calc.snippets import platform_name
from mtuscope.diagnose.findings import KINDS, Evidence, Finding, Severity
from mtuscope.errors import UsageError

Facts = dict[str, int | str | None]
"""Machine-readable numbers behind a finding (`Finding.facts`)."""

Advice = tuple[str, int | None]
"""The advice paragraph, and the IP MTU to write configuration lines for (None: none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One finding kind as its rule module declares it."""

    kind: str
    """Stable id from `diagnose.findings.KINDS`."""
    severity: Severity
    """Severity unless a check says otherwise."""
    reference: str
    """The RFCs followed, unless a check names others for its source."""
    advise: Callable[[Mapping[str, int | str | None]], Advice]
    """The advice wording over a finding's facts (any fact may be missing)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown finding kind {self.kind!r}")

    def advice(self, facts: Mapping[str, int | str | None], *, platform: str | None) -> str:
        """The advice text for `facts`, plus `platform`'s configuration lines when an MTU is known.

        Raises:
            UsageError: unknown platform.
        """
        key = platform_name(platform) if platform is not None else None
        text, mtu = self.advise(facts)
        if key is None or mtu is None:
            return text
        interface = str(facts.get("interface") or "<iface>")
        return f"{text}\n{config_snippet(key, mtu, interface=interface)}"

    def finding(
        self,
        *,
        summary: str,
        evidence: tuple[Evidence, ...],
        facts: Facts,
        platform: str | None,
        severity: Severity | None = None,
        reference: str | None = None,
        connection: int | None = None,
    ) -> Finding:
        """A finding of this kind, with the kind's defaults and its advice filled in.

        Raises:
            UsageError: bad platform, or a summary/evidence `Finding` refuses.
        """
        return Finding(
            kind=self.kind,
            severity=self.severity if severity is None else severity,
            summary=summary,
            evidence=evidence,
            advice=self.advice(facts, platform=platform),
            reference=self.reference if reference is None else reference,
            connection=connection,
            facts=facts,
        )
