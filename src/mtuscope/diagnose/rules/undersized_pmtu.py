"""Rule `undersized-pmtu`: the path MTU is below 576 (IPv4) or 1280 (IPv6).

Layer: diagnose/. A pure function of `PathObservations`; no I/O. Fires on an
exact path MTU below the minimum reassembly size (RFC 1122 §3.3.3, RFC 8200 §5):
legal for IPv4, broken for IPv6, costly either way. A warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.calc.advice import clamp_mss
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import probe_evidence
from mtuscope.diagnose.rules.phrases import FactsIn, fact_family, fact_int, fact_mtu, looks_like
from mtuscope.diagnose.rules.rule import Advice, Rule
from mtuscope.wire.sizes import MIN_REASSEMBLY

KIND = "undersized-pmtu"
_WHY = {
    4: f"RFC 791 and RFC 1122 §3.3.3 expect at least {MIN_REASSEMBLY[4]}",
    6: f"RFC 8200 §5 requires {MIN_REASSEMBLY[6]} on every IPv6 link",
}


REFERENCE = "RFC 1122 §3.3.3"


def check_path(obs: PathObservations, *, platform: str | None = None) -> Iterator[Finding]:
    """The finding for an exact path MTU below the minimum reassembly size."""
    best = obs.exact
    floor = MIN_REASSEMBLY[obs.family]
    if best is None or best.probe.size >= floor:
        return
    mtu = best.probe.size
    yield RULE.finding(
        summary=f"The path MTU to {obs.dst} is {mtu}, below {floor}",
        evidence=(
            probe_evidence(best, expected=f">= {floor}", note="largest size that got through"),
        ),
        facts={"path_mtu": mtu, "family": obs.family},
        platform=platform,
        reference="RFC 8200 §5" if obs.family == 6 else None,
    )


def advise(f: FactsIn) -> Advice:
    """Raise the narrow link's MTU to the minimum; clamp until then."""
    fam, mtu = fact_family(f), fact_int(f, "path_mtu")
    floor, why = MIN_REASSEMBLY[fam], _WHY[fam]
    if mtu is None:
        return (
            f"The path MTU is below {floor} ({why}): find the link or tunnel with the small "
            "MTU (mtuscope path shows the hop) and raise it, or carry the traffic over a "
            "path without the extra encapsulation.",
            None,
        )
    return (
        f"The path MTU {mtu}{looks_like(mtu, fact_int(f, 'from_mtu'))} is below {floor} ({why}): "
        f"raise the MTU of the narrow link or tunnel to at least {floor}; until then "
        f"clamp TCP to {clamp_mss(mtu, fam)} (IPv{fam}).",
        # An IPv6 MTU below 1280 cannot be configured: no snippet, only "raise it".
        fact_mtu(f) if fam == 4 else None,
    )


RULE = Rule(kind=KIND, severity=Severity.WARNING, reference=REFERENCE, advise=advise)
