"""The calc job: options checked on construction, typed results, the JSON body."""

from __future__ import annotations

import io
import json

import pytest

from mtuscope.errors import UsageError
from mtuscope.jobs.calc import PLATFORMS, CalcMode, CalcOptions, calc, layer_summaries
from mtuscope.report.calc_text import render
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict, write_json
from mtuscope.report.text import make_console


def test_stack_result_is_typed() -> None:
    result = calc(CalcOptions(layers=("pppoe", "gre"), platform="cisco"))
    assert result.kind == "calc" and result.mode is CalcMode.STACK
    assert result.stack is not None and result.explanations is None
    assert [r.name for r in result.stack.layers] == ["pppoe", "gre"]
    assert (result.ip_mtu, result.mss_ipv4, result.mss_ipv6) == (1468, 1428, 1408)
    assert result.overhead == 32
    assert [s.platform for s in result.snippets] == ["cisco-ios"]
    assert result.recommended.interface_mtu == 1468
    assert result.inputs == ("--link-mtu 1500", "pppoe", "gre")
    assert not result.has_error


def test_explain_result_is_typed() -> None:
    result = calc(CalcOptions(explain_mtu=1450, limit=3))
    assert result.mode is CalcMode.EXPLAIN and result.stack is None
    assert result.explanations is not None and result.explanations[0].stack == ("vxlan",)
    assert len(result.explanations) <= 3
    assert (result.link_mtu, result.mss_ipv4, result.mss_ipv6) == (1500, 1410, 1390)
    assert [s.platform for s in result.snippets] == list(PLATFORMS)
    assert result.inputs == ("--explain-mtu 1450", "--from-mtu 1500")


def test_explain_below_ipv6_minimum_has_no_ipv6_mss() -> None:
    result = calc(CalcOptions(explain_mtu=1200))
    assert result.mss_ipv6 is None and result.recommended.mss_clamp_ipv6 is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"platform": "vax"}, "known platforms"),
        ({"inner_family": 5}, "must be 4 or 6"),
        ({"outer_family": 0}, "must be 4 or 6"),
        ({"explain_mtu": 1400, "layers": ("gre",)}, "either layers or --explain-mtu"),
        ({"from_mtu": 9000}, "--from-mtu only goes with --explain-mtu"),
    ],
)
def test_options_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CalcOptions(**kwargs)  # type: ignore[arg-type]  # deliberately loose test input


def test_impossible_stack_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="known layers"):
        calc(CalcOptions(layers=("nosuchlayer",)))


def test_json_document_of_both_modes() -> None:
    stack = to_dict(calc(CalcOptions(layers=("vxlan",), timestamps=True)))
    validate_report(stack)
    assert list(stack)[6:] == [
        "mode", "link_mtu", "layers", "ip_mtu", "mss_ipv4", "mss_ipv6", "overhead",
        "inner_family", "outer_family", "tcp_timestamps", "payload_ipv4", "payload_ipv6",
        "frame_size", "recommended", "snippets",
    ]  # fmt: skip
    assert stack["layers"][0]["name"] == "vxlan" and stack["payload_ipv4"] == 1398
    explain = to_dict(calc(CalcOptions(explain_mtu=1438)))
    validate_report(explain)
    assert list(explain)[6:] == [
        "mode", "link_mtu", "layers", "ip_mtu", "mss_ipv4", "mss_ipv6", "overhead",
        "explanations", "conventions", "nearest", "recommended", "snippets",
    ]  # fmt: skip
    assert explain["layers"] == [] and explain["explanations"]
    out = io.StringIO()
    write_json(calc(CalcOptions(explain_mtu=1438)), out)
    assert json.loads(out.getvalue()) == explain


def test_text_reads_the_typed_fields() -> None:
    out = io.StringIO()
    render(calc(CalcOptions(layers=("dot1q", "gre"), platform="linux")), make_console(out))
    text = out.getvalue()
    assert "GRE over IPv4" in text and "4 (frame)" in text and "ip link set" in text
    assert "Ethernet frame on the link: 1518 bytes" in text


def test_layer_summaries_name_every_layer() -> None:
    names = [name for name, _ in layer_summaries()]
    assert "gre" in names and "vxlan" in names and len(names) == len(set(names))
