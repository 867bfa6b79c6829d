"""`mtuscope calc` through the CLI entry point: exit codes, JSON fields, text output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

REQUIRED = ("link_mtu", "layers", "ip_mtu", "mss_ipv4", "mss_ipv6", "snippets")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    code = main(["calc", "--json", *argv])
    out = capsys.readouterr().out
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    validate_report(doc)
    for key in REQUIRED:
        assert key in doc
    assert doc["kind"] == "calc" and doc["findings"] == []
    return doc


def test_issue_example(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--link-mtu", "1500", "pppoe", "ipsec-tunnel:aes-gcm-128", "gre"])
    assert doc["link_mtu"] == 1500
    assert [(x["name"], x["bytes"], x["mtu_after"]) for x in doc["layers"]] == [
        ("pppoe", 8, 1492),
        ("ipsec-tunnel:aes-gcm-16", 54, 1438),
        ("gre", 24, 1414),
    ]
    assert (doc["ip_mtu"], doc["mss_ipv4"], doc["mss_ipv6"]) == (1414, 1374, 1354)
    assert doc["recommended"] == {
        "interface_mtu": 1414,
        "mss_clamp_ipv4": 1374,
        "mss_clamp_ipv6": 1354,
    }
    assert set(doc["snippets"]) == {"cisco-ios", "junos", "linux", "windows", "mikrotik", "fortios"}
    assert "ip tcp adjust-mss 1374" in doc["snippets"]["cisco-ios"]
    assert doc["inputs"] == ["--link-mtu 1500", "pppoe", "ipsec-tunnel:aes-gcm-16", "gre"]


def test_options(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(
        capsys,
        ["--outer", "6", "--inner", "6", "--timestamps", "--platform", "linux",
         "--interface", "wg0", "wireguard"],
    )  # fmt: skip
    assert doc["ip_mtu"] == 1420 and doc["mss_ipv6"] == 1360 and doc["payload_ipv6"] == 1348
    assert list(doc["snippets"]) == ["linux"]
    assert "ip link set dev wg0 mtu 1420" in doc["snippets"]["linux"]
    assert doc["inner_family"] == 6 and doc["tcp_timestamps"] is True


def test_no_layers_is_the_plain_link(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, [])
    assert (doc["ip_mtu"], doc["mss_ipv4"], doc["mss_ipv6"], doc["layers"]) == (
        1500,
        1460,
        1440,
        [],
    )


def test_ipv6_impossible_gives_null(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--link-mtu", "1300", "gre"])
    assert doc["ip_mtu"] == 1276 and doc["mss_ipv6"] is None


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--explain-mtu", "1450"])
    assert doc["mode"] == "explain"
    assert doc["explanations"][0]["stack"] == ["vxlan"]
    assert doc["explanations"][0]["label"] == "VXLAN over IPv4"
    assert (doc["link_mtu"], doc["ip_mtu"], doc["mss_ipv4"], doc["layers"]) == (
        1500,
        1450,
        1410,
        [],
    )
    doc = _json(capsys, ["--explain-mtu", "8950", "--from-mtu", "9000", "--limit", "1"])
    assert [e["stack"] for e in doc["explanations"]] == [["vxlan"]]


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calc", "--platform", "cisco-ios", "gre"]) == 0
    out = capsys.readouterr().out
    assert "GRE over IPv4" in out and "1476" in out and "ip tcp adjust-mss 1436" in out
    assert main(["calc", "--platform", "mikrotik", "--explain-mtu", "1420"]) == 0
    out = capsys.readouterr().out
    assert "WireGuard over IPv6" in out
    # long configuration lines are not wrapped by the terminal renderer
    assert (
        "/ip firewall mangle add chain=forward out-interface=<iface> protocol=tcp "
        "tcp-flags=syn tcp-mss=1381-65535 action=change-mss new-mss=1380 passthrough=yes\n"
    ) in out
    assert main(["calc", "--timestamps", "dot1q", "ipsec-tunnel:aes-cbc-sha1"]) == 0
    out = capsys.readouterr().out
    assert "4 (frame)" in out and "(incl. 4 alignment)" in out
    assert "Ethernet frame on the link: 1518 bytes without FCS" in out
    assert "with TCP timestamps, data per segment: IPv4 1386, IPv6 1366" in out
    assert main(["calc", "--explain-mtu", "1492"]) == 0
    out = capsys.readouterr().out
    assert "PPPoE" in out and "1452" in out
    assert main(["calc", "--explain-mtu", "1499"]) == 0
    assert "no common encapsulation" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["foo"], "unknown layer 'foo'; known layers: dot1q"),
        (["gre:nokey"], "unknown option 'nokey'"),
        (["--link-mtu", "-1500", "gre"], "out of range"),
        (["--link-mtu", "99999999", "gre"], "out of range"),
        (["--link-mtu", "abc"], "invalid int value"),
        (["--link-mtu", "200", "srv6:20"], "needs an IPv6 link"),
        (["--inner", "6", "--link-mtu", "1300", "gre"], "IPv6 minimum of 1280"),
        (["--link-mtu", "100", "mpls:16"], "known layers"),
        (["--platform", "vax", "gre"], "known platforms"),
        (["--explain-mtu", "1600"], "must lie between"),
        (["--explain-mtu", "1450", "gre"], "either layers or --explain-mtu"),
        (["--from-mtu", "9000", "gre"], "--from-mtu only goes with --explain-mtu"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["calc", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and message in err
