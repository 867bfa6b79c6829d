"""Tests for mtuscope.calc.snippets: configuration lines per platform."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mtuscope.calc.snippets import PLATFORMS, platform_name, render
from mtuscope.errors import UsageError

EXPECTED = {
    "cisco-ios": ["ip mtu 1400", "ip tcp adjust-mss 1360", "ipv6 tcp adjust-mss 1340"],
    "junos": ["family inet mtu 1400", "family inet tcp-mss 1360", "family inet6 tcp-mss 1340"],
    "linux": ["ip link set dev eth0 mtu 1400", "maxseg size set 1360", "--set-mss 1340"],
    "windows": ['subinterface "eth0" mtu=1400 store=persistent'],
    "mikrotik": ["mtu=1400", "new-mss=1360", "/ipv6 firewall mangle", "new-mss=1340"],
    "fortios": ["set mtu 1400", "set tcp-mss 1360", "set tcp-mss-sender 1360"],
}


def test_platform_list() -> None:
    assert set(PLATFORMS) == set(EXPECTED)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_render(platform: str) -> None:
    text = render(platform, ip_mtu=1400, mss_ipv4=1360, mss_ipv6=1340, interface="eth0")
    for line in EXPECTED[platform]:
        assert line in text
    assert not text.endswith("\n")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_ipv6_lines_below_1280(platform: str) -> None:
    text = render(platform, ip_mtu=1200, mss_ipv4=1160, mss_ipv6=None)
    assert "1140" not in text and "ipv6 tcp" not in text and "ip6tables" not in text
    assert "1160" in text
    # an IPv6 MSS given with an MTU below 1280 is dropped, not rendered
    dropped = render(platform, ip_mtu=1200, mss_ipv4=1160, mss_ipv6=1140)
    assert "1140" not in dropped


def test_aliases_and_errors() -> None:
    assert platform_name("Cisco") == "cisco-ios"
    assert platform_name("routeros") == "mikrotik"
    with pytest.raises(UsageError, match="known platforms"):
        render("vax", ip_mtu=1400, mss_ipv4=1360, mss_ipv6=1340)
    with pytest.raises(UsageError, match="impossible"):
        render("linux", ip_mtu=40, mss_ipv4=0, mss_ipv6=None)
    with pytest.raises(UsageError, match="interface name"):
        render("linux", ip_mtu=1400, mss_ipv4=1360, mss_ipv6=1340, interface='a"; rm')


def _nft_check(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rules.nft"
    path.write_text(script)
    # --check parses and validates against the kernel without committing anything.
    return subprocess.run(
        ["nft", "--check", "-f", str(path)], capture_output=True, text=True, timeout=20
    )


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="nft --check needs root (netlink)")
def test_linux_nftables_lines_are_accepted_by_nft(tmp_path: Path) -> None:
    text = render("linux", ip_mtu=1400, mss_ipv4=1360, mss_ipv6=1340, interface="eth0")
    # the snippet is shell: drop the "nft " prefix and the shell quoting
    script = "\n".join(
        line.removeprefix("nft ").replace("'", "")
        for line in text.splitlines()
        if line.startswith("nft ")
    )
    assert script.count("maxseg size set") == 2
    ok = _nft_check(script, tmp_path)
    assert ok.returncode == 0, ok.stderr
    # and the check does fail on a broken rule, so the test above can fail
    bad = _nft_check(script.replace("maxseg size set", "maxseg sise set"), tmp_path)
    assert bad.returncode != 0
