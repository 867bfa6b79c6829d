"""diagnose_path and path_body on results of the real engines run against FakePath."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mtuscope import __version__
from mtuscope.active.hop_trace import HopTrace, HopTraceResult
from mtuscope.active.mss import Direction, MssObservation, TransferObservation
from mtuscope.active.path_mtu import PathMtuResult, PathMtuSearch
from mtuscope.active.probe import ProbeKind
from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.errors import UsageError
from mtuscope.report.path_json import path_body
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import findings_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)


def measure(path: FakePath, **kw: object) -> tuple[PathMtuResult, HopTraceResult]:
    assert path.local_mtu is not None
    search = PathMtuSearch(dst=path.dst, ceiling=path.local_mtu, **kw)  # type: ignore[arg-type]
    run(search, path)
    pmtu = search.result()
    trace = HopTrace(dst=path.dst, ceiling=path.local_mtu, pmtu=pmtu, **kw)  # type: ignore[arg-type]
    run(trace, path, start=200.0)
    return pmtu, trace.result()


def diagnose(
    pmtu: PathMtuResult, trace: HopTraceResult | None, mss: MssObservation | None
) -> tuple[Finding, ...]:
    """What `probe` asks of diagnose/: a search, maybe a trace and MSS measurements."""
    obs = PathObservations(dst=pmtu.dst, search=pmtu, trace=trace, mss=mss)
    return diagnose_path(obs)


def kinds(findings: tuple[Finding, ...]) -> list[str]:
    return [f.kind for f in findings]


def probe_ids(pmtu: PathMtuResult, trace: HopTraceResult | None) -> set[int]:
    return {r.probe.id for r in (*pmtu.probes, *(trace.probes if trace else ()))}


def assert_evidence_is_real(findings: tuple[Finding, ...], ids: set[int]) -> None:
    for f in findings:
        assert f.advice and "\n" not in f.summary
        for e in f.evidence:
            assert e.probe is None or e.probe in ids, (f.kind, e)


def test_clean_path_has_no_findings() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1500, 1500, 1500]))
    assert diagnose(pmtu, trace, None) == ()


def test_black_hole_names_the_link_and_the_byte() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"))
    found = diagnose(pmtu, trace, None)
    assert kinds(found) == ["mtu-drop", "pmtud-blackhole"]
    drop, hole = found
    assert drop.severity is Severity.WARNING
    assert drop.summary == (
        "MTU drops to 1400 between hop 1 198.51.100.1 and hop 2 198.51.100.2 "
        "(from 1500, with no too-big message)"
    )
    assert drop.facts["to_mtu"] == 1400 and drop.facts["hop"] == 2
    refused = [e for e in drop.evidence if e.field == "probe.size"]
    assert refused and all(isinstance(e.observed, int) and e.observed > 1400 for e in refused)
    assert hole.severity is Severity.ERROR
    assert hole.facts["path_mtu"] == 1400
    assert "above 1400 bytes" in hole.summary and "hop 1 198.51.100.1" in hole.summary
    sizes = [e.observed for e in hole.evidence]
    assert sizes[0] == 1400 and all(isinstance(s, int) and s > 1400 for s in sizes[1:])
    assert_evidence_is_real(found, probe_ids(pmtu, trace))


def test_drop_with_icmp_is_info_with_its_likely_encapsulation() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1500, 1450, 1500]))
    found = diagnose(pmtu, trace, None)
    assert kinds(found) == ["mtu-drop"]
    assert found[0].severity is Severity.INFO
    assert "VXLAN" in found[0].summary
    body = path_body(pmtu, trace, None)
    assert body["mtu_drop"]["likely_encapsulation"][0]["label"] == "VXLAN over IPv4"
    assert body["mtu_drop"]["likely_encapsulation"][0]["overhead"] == 50


def test_bogus_too_big_is_a_pmtud_failure() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1500, 1400, 1500], icmp="bogus-mtu"))
    found = diagnose(pmtu, trace, None)
    assert "pmtud-failure" in kinds(found)
    failure = next(f for f in found if f.kind == "pmtud-failure")
    assert failure.severity is Severity.WARNING
    assert "198.51.100.1" in failure.summary and "(0)" in failure.summary
    assert all(e.observed == 0 for e in failure.evidence)
    assert "pmtud-blackhole" not in kinds(found)
    assert_evidence_is_real(found, probe_ids(pmtu, trace))


def test_first_link_mismatch() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1400, 1500, 1500], local_mtu=1500))
    found = diagnose(pmtu, trace, None)
    assert kinds(found) == ["mtu-drop", "pmtud-failure", "pmtud-blackhole"]
    assert "between this host and hop 1 198.51.100.1" in found[0].summary
    assert "interface MTU 1500" in found[1].summary and found[1].severity is Severity.ERROR
    assert_evidence_is_real(found, probe_ids(pmtu, trace))


def test_undersized_pmtu() -> None:
    pmtu, trace = measure(FakePath(hop_mtus=[1500, 552, 1500]))
    found = diagnose(pmtu, trace, None)
    assert "undersized-pmtu" in kinds(found)
    small = next(f for f in found if f.kind == "undersized-pmtu")
    assert small.facts["path_mtu"] == 552
    big, _ = measure(FakePath(hop_mtus=[1500, 600, 1500]))
    assert "undersized-pmtu" not in kinds(diagnose(big, None, None))


def test_mss_findings() -> None:
    pmtu, _ = measure(FakePath(hop_mtus=[1500, 1400, 1500]))
    over = MssObservation(family=4, server_announced=1460, effective=1460, probe_id=900)
    found = diagnose(pmtu, None, over)
    assert kinds(found) == ["oversized-mss"]
    # The routers send too-big messages: PMTUD repairs it, a warning (as in a capture).
    assert found[0].severity is Severity.WARNING and "PMTUD repairs it" in found[0].summary
    assert found[0].evidence[0].probe == 900 and "needs 1500" in str(found[0].evidence[1].note)
    assert found[0].evidence[2].note == "a too-big message came back for it"
    silent, _ = measure(FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"))
    hole = [f for f in diagnose(silent, None, over) if f.kind == "oversized-mss"]
    assert [f.severity for f in hole] == [Severity.ERROR]
    # 1360 on a 1400-byte path is all the path allows: the path's MSS, nothing to raise.
    fits = MssObservation(family=4, server_announced=1460, effective=1360, probe_id=900)
    assert diagnose(pmtu, None, fits) == ()
    # The kernel's send MSS lost 12 bytes to timestamps: 1348 is still the path's 1360.
    stamped = MssObservation(
        family=4, server_announced=1460, effective=1348, timestamps=True, probe_id=900
    )
    assert stamped.effective_option == 1360
    assert diagnose(pmtu, None, stamped) == ()
    # Without timestamps 1348 is 12 bytes short of what the path allows.
    short = MssObservation(
        family=4, server_announced=1348, effective=1348, timestamps=False, probe_id=900
    )
    (low,) = diagnose(pmtu, None, short)
    assert low.kind == "undersized-mss" and low.facts["owner"] == "server"
    assert "1360" in low.advice and "Raise it where it is set to 1360" in low.advice
    good = MssObservation(family=4, server_announced=1460, effective=1300)
    assert diagnose(pmtu, None, good) == ()  # no probe to cite: no undersized finding


def test_mss_owner_on_a_full_path() -> None:
    pmtu, _ = measure(FakePath(hop_mtus=[1500, 1500, 1500]))
    # A server that announces 512 itself (the lab's small-mss-server): its own MSS.
    own = MssObservation(
        family=4, server_announced=512, effective=500, timestamps=True, probe_id=900
    )
    (f,) = diagnose(pmtu, None, own)
    assert f.kind == "undersized-mss" and f.severity is Severity.WARNING
    assert f.facts["owner"] == "server" and f.facts["mss"] == 512
    assert f.facts["path_allows"] == 1460
    assert "announces MSS 512 itself" in f.summary and "its own setting" in f.advice
    # 1360 is Cisco's tunnel clamp, which no stack announces: likely a clamp.
    tunnel = MssObservation(family=4, server_announced=1360, effective=1360, probe_id=900)
    (c,) = diagnose(pmtu, None, tunnel)
    assert c.facts["owner"] == "clamp" and "adjust-mss 1360" in c.summary
    assert "Raise the `adjust-mss`/TCPMSS value to 1460" in c.advice
    # Just below the threshold it fires, at the threshold it does not.
    at = MssObservation(family=4, server_announced=1380, effective=1380, probe_id=900)
    assert diagnose(pmtu, None, at) == ()
    below = MssObservation(family=4, server_announced=1379, effective=1379, probe_id=900)
    assert kinds(diagnose(pmtu, None, below)) == ["undersized-mss"]


def test_stalled_download_is_a_black_hole_on_the_reverse_path() -> None:
    pmtu, _ = measure(FakePath(hop_mtus=[1500, 1500]))
    stalled = TransferObservation(
        direction=Direction.DOWNLOAD,
        handshake_ok=True,
        expected_bytes=65536,
        moved_bytes=2896,
        stalled=True,
    )
    mss = MssObservation(family=4, server_announced=1460, probe_id=77, transfer=stalled)
    found = diagnose(pmtu, None, mss)
    assert kinds(found) == ["pmtud-blackhole"]
    assert "reverse path" in found[0].summary and found[0].evidence[0].probe == 77


def test_mismatched_inputs_are_refused() -> None:
    pmtu, _ = measure(FakePath(hop_mtus=[1500]))
    other, trace6 = measure(FakePath(hop_mtus=[1500], family=6))
    with pytest.raises(UsageError):
        diagnose(pmtu, trace6, None)
    with pytest.raises(UsageError):
        diagnose(pmtu, None, MssObservation(family=6))
    assert other.family == 6


@pytest.mark.parametrize(
    "path",
    [
        FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"),
        FakePath(hop_mtus=[1500, 1280, 1500], family=6),
        FakePath(hop_mtus=[1500, 1500], answers=frozenset({ProbeKind.TCP_SYN})),
    ],
)
def test_path_body_follows_the_contract(path: FakePath) -> None:
    pmtu, trace = measure(path)
    mss = MssObservation(family=path.family, server_announced=1460, effective=1400, probe_id=1)
    body = path_body(pmtu, trace, mss, port=443)
    # path_body is also the body of the two-ended check's reverse search: the
    # envelope of any report plus it is a valid "path" document.
    doc = {
        "tool": "mtuscope",
        "version": __version__,
        "kind": "path",
        "inputs": [str(path.dst)],
        "findings": findings_json(diagnose(pmtu, trace, mss)),
        "warnings": [],
        **body,
    }
    validate_report(doc)
    json.dumps(doc)
    assert doc["target"] == {"address": str(path.dst), "port": 443}
    assert doc["family"] == path.family
    assert doc["pmtu"] == pmtu.path_mtu
    assert doc["stop_reason"] == pmtu.stop_reason.value
    assert doc["mss"] == {
        "server_announced": 1460,
        "effective": 1400,
        "combined": 1400,
        # The verdict's MSS: the kernel sends less than the server announced, so its
        # path MTU limits it (inferred: the effective MSS is not path MTU - headers).
        "compared": 1400,
        "timestamps": None,
        "owner": "path",
        "owner_proven": False,
        "path_allows": doc["mss"]["path_allows"],
    }
    hdr = 40 if path.family == 4 else 60
    assert doc["mss"]["path_allows"] in (None, (doc["pmtu"] or 0) - hdr)
    assert doc["probes"]["sent"] == len(pmtu.probes) + len(trace.probes)
    assert 0 < doc["probes"]["answered"] <= doc["probes"]["sent"]
    assert [h["ttl"] for h in doc["hops"]] == list(range(1, len(doc["hops"]) + 1))


def test_path_body_without_trace_or_mss() -> None:
    pmtu, _ = measure(FakePath(hop_mtus=[1500, 1492]))
    body = path_body(pmtu, None, None)
    assert body["hops"] == [] and body["mtu_drop"] is None
    assert body["pmtu"] == 1492 and body["target"]["port"] is None
    assert body["mss"] == {
        "server_announced": None,
        "effective": None,
        "combined": None,
        "compared": None,
        "timestamps": None,
        "owner": None,
        "owner_proven": None,
        "path_allows": None,
    }
