"""Rule `mtu-drop`: the hop where the MTU drops, with the likely encapsulation.

Layer: diagnose/. A pure function of `PathObservations` (its hop trace); no I/O.
One finding per drop the trace found: info when a too-big message told of it,
a warning when the drop is silent. The encapsulations that explain the drop come
from calc/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mtuscope.active.hop_trace import MtuDrop
from mtuscope.calc.advice import TCP_IP_HEADERS
from mtuscope.calc.explain import explain_mtu
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.rules.evidence import drop_evidence
from mtuscope.diagnose.rules.phrases import (
    FactsIn,
    at_hop,
    clamp_text,
    drop_between,
    fact_int,
    first_mtu,
    l2_mismatch,
    looks_like,
    silent_drop_text,
    where_to_clamp,
)
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.errors import UsageError

KIND = "mtu-drop"
REFERENCE = "RFC 1191 §3; RFC 8201 §4"


def likely_encapsulation(drop: MtuDrop, limit: int = 3) -> list[dict[str, Any]]:
    """The encapsulations that would explain a drop, most common first.

    Args:
        drop: the drop.
        limit: at most this many.

    Returns:
        JSON-ready dicts `{label, stack, overhead, reference}`; empty when none matches
        or the MTUs are outside what calc/ explains.
    """
    try:
        found = explain_mtu(drop.to_mtu, from_mtu=drop.from_mtu, limit=limit)
    except UsageError:
        return []
    return [
        {"label": e.label, "stack": list(e.stack), "overhead": e.overhead, "reference": e.reference}
        for e in found
    ]


def check_path_drop(
    obs: PathObservations, drop: MtuDrop, *, platform: str | None = None
) -> Iterator[Finding]:
    """The finding for one drop of the trace."""
    labels = [e["label"] for e in likely_encapsulation(drop)]
    likely = f"; likely {' or '.join(labels)}" if labels else ""
    silent = ", with no too-big message" if drop.silent else ""
    facts: Facts = {
        "from_mtu": drop.from_mtu,
        "to_mtu": drop.to_mtu,
        "path_mtu": drop.to_mtu,
        "hop": drop.at_hop,
        "after_hop": drop.after_hop,
        "address": str(drop.address) if drop.address else None,
        "family": obs.family,
        "likely_encapsulation": " or ".join(labels) or None,
        "silent": 1 if drop.silent else 0,
        "between": drop_between(drop),
    }
    yield RULE.finding(
        severity=Severity.WARNING if drop.silent else Severity.INFO,
        summary=(
            f"MTU drops to {drop.to_mtu} {drop_between(drop)} (from {drop.from_mtu}{silent})"
            f"{likely}"
        ),
        evidence=drop_evidence(obs, drop),
        facts=facts,
        platform=platform,
    )


def advise(f: FactsIn) -> Advice:
    """Configure the MTU and clamps where the encapsulation starts, or in front of the
    narrow link when no encapsulation explains the drop."""
    to, frm = first_mtu(f, "to_mtu", "path_mtu"), fact_int(f, "from_mtu")
    where = at_hop(f)
    if to is not None and f.get("silent") and l2_mismatch(to, frm) is not None:
        place = str(f.get("between") or "at the drop")
        return (
            f"The MTU drops{where} from {frm or 'the link MTU'} to {to} with no too-big "
            f"message: {silent_drop_text(to, frm, place)}.",
            None,
        )
    if to is not None:
        guess = looks_like(to, frm)
        place = (
            "on the tunnel or interface where the encapsulation starts"
            if where_to_clamp(guess).startswith("at the tunnel")
            else "on the router in front of the narrow link"
        )
        return (
            f"The MTU drops{where} from {frm or 'the link MTU'} to {to}{guess}. "
            f"Configure {clamp_text(to)} {place}, so hosts never send more.",
            to,
        )
    return (
        f"The MTU drops{where}: set the tunnel MTU to the link MTU less the encapsulation "
        f"overhead (mtuscope calc) and clamp the MSS to it less {TCP_IP_HEADERS[4]} (IPv4) / "
        f"{TCP_IP_HEADERS[6]} (IPv6).",
        None,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
