"""The nftables ruleset texts: one table, one base chain, the rules in order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mtuscope.errors import UsageError
from mtuscope.lab.rulesets import (
    WITHHOLD_TOO_BIG,
    clamp_mss_ruleset,
    masquerade_ruleset,
    only_tcp_port_ruleset,
    redirect_ruleset,
    rewrite_too_big_mtu_ruleset,
    table,
)


def test_table_is_nft_syntax() -> None:
    assert table("output", "filter 0", "a", "b", policy="drop") == (
        "table inet mtuscope {\n"
        "  chain output {\n"
        "    type filter hook output priority 0; policy drop;\n"
        "    a\n"
        "    b\n"
        "  }\n"
        "}\n"
    )


def test_each_ruleset_hooks_where_it_acts() -> None:
    assert "hook output priority 0; policy accept;" in WITHHOLD_TOO_BIG
    assert "type filter hook forward priority mangle" in clamp_mss_ruleset(1300)
    assert "maxseg size 1301-65535 tcp option maxseg size set 1300" in clamp_mss_ruleset(1300)
    assert "type nat hook postrouting priority srcnat" in masquerade_ruleset("r1-r2")
    assert 'oifname "r1-r2" masquerade' in masquerade_ruleset("r1-r2")
    assert "tcp dport 8443 redirect to :3129" in redirect_ruleset(8443, 3129)
    assert "hook prerouting priority dstnat" in redirect_ruleset(8443, 3129)
    only = only_tcp_port_ruleset(8080)
    assert "policy drop;" in only and only.index("iif lo") < only.index("tcp dport 8080 accept")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: clamp_mss_ruleset(65535), "clamp MSS 65535 outside 1..65534"),
        (lambda: rewrite_too_big_mtu_ruleset(-1), "too-big MTU -1 outside 0..65535"),
        (lambda: only_tcp_port_ruleset(0), "TCP port 0 outside 1..65535"),
    ],
)
def test_bounds(call: Callable[[], str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call()
