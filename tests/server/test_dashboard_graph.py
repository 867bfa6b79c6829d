"""The path view's graph: real lab reports merged by address, drops, black holes, clamps, `*`.

Pure: `server.dashboard.graph.merge` and `svg.path_svg` on the recorded lab
reports of tests/data/monitoring (and variants of them built to the schema).
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtuscope.server.dashboard.graph import AgentPath, merge  # noqa: E402
from mtuscope.server.dashboard.svg import path_svg  # noqa: E402
from server.fill import lab_report  # noqa: E402


def _links(graph: Any) -> dict[tuple[str, str], Any]:
    return dict(graph.links)


def test_two_agents_share_a_hop_and_branch() -> None:
    g = merge(
        [
            AgentPath("berlin", 0, lab_report("mtu-drop")),
            AgentPath("paris", 0, lab_report("vxlan-responder")),
        ]
    )
    assert [n.key for n in g.nodes.values() if n.kind == "hop"] == [
        "addr:192.0.2.2",
        "addr:198.51.100.2",
        "addr:198.51.100.130",
    ]
    assert g.nodes["addr:192.0.2.2"].agents == {"berlin", "paris"}
    target = g.nodes["addr:203.0.113.2"]
    assert target.kind == "target" and target.layer == 3  # hops 1, 2; then the target
    links = _links(g)
    assert links["agent:berlin", "addr:192.0.2.2"].mtus == {1500}
    drop = links["addr:192.0.2.2", "addr:198.51.100.2"]
    assert drop.drop and not drop.silent and (drop.from_mtu, drop.to_mtu) == (1500, 1400)
    assert drop.encapsulations == []  # 100 bytes: no common encapsulation
    vxlan = links["addr:192.0.2.2", "addr:198.51.100.130"]
    assert vxlan.drop and vxlan.mtus == {1450} and vxlan.encapsulations[0] == "VXLAN over IPv4"
    assert not links["addr:198.51.100.2", "addr:203.0.113.2"].drop


def test_an_agent_on_a_router_of_another_path_stands_beside_that_router() -> None:
    # The second agent runs on r1: its trace starts at r1's next hop (TTL 1).
    on_r1 = copy.deepcopy(lab_report("mtu-drop"))
    on_r1["hops"] = [dict(h, ttl=h["ttl"] - 1) for h in on_r1["hops"] if h["ttl"] > 1]
    g = merge([AgentPath("client", 0, lab_report("mtu-drop")), AgentPath("r1", 0, on_r1)])
    assert g.nodes["agent:client"].layer == 0
    assert g.nodes["addr:192.0.2.2"].layer == 1
    assert g.nodes["agent:r1"].layer == 1  # beside r1, not at the far left
    assert (g.nodes["addr:192.0.2.2"].order, g.nodes["agent:r1"].order) == (0, 1)
    assert ("agent:r1", "addr:198.51.100.2") in _links(g)


def test_a_black_hole_is_a_silent_drop_link() -> None:
    g = merge([AgentPath("tokyo", 0, lab_report("blackhole"))])
    link = _links(g)["addr:192.0.2.2", "addr:198.51.100.2"]
    assert link.drop and link.silent
    svg = path_svg(g)
    assert re.search(r'<g class="link drop blackhole" id="link-1"[^>]*data-mtu="1400"', svg)
    assert "silent drop: no too-big message" in svg
    # The black hole finding alone (a drop without `silent`) marks it too.
    doc = lab_report("blackhole")
    doc["mtu_drop"]["silent"] = False
    assert _links(merge([AgentPath("t", 0, doc)]))["addr:192.0.2.2", "addr:198.51.100.2"].silent


def test_unknown_hops_are_one_node_per_agent() -> None:
    a, b = lab_report("clean"), lab_report("clean")
    a["hops"][1]["address"] = None
    b["hops"][1]["address"] = None
    g = merge([AgentPath("x", 0, a), AgentPath("y", 0, b)])
    unknown = [n for n in g.nodes.values() if n.kind == "unknown"]
    assert [(n.key, n.label) for n in unknown] == [("unknown:x:0:2", "*"), ("unknown:y:0:2", "*")]
    assert _links(g)["unknown:x:0:2", "addr:203.0.113.2"].mtus == {1500}


def test_several_drops_from_mtu_drops() -> None:
    doc = lab_report("clean")
    doc["hops"][1]["mtu"] = 1450
    doc["hops"][2]["mtu"] = 1400
    doc["mtu_drops"] = [
        {"after_hop": 1, "at_hop": 2, "from_mtu": 1500, "to_mtu": 1450, "silent": False,
         "likely_encapsulation": [{"label": "VXLAN over IPv4"}]},
        {"after_hop": 2, "at_hop": 3, "from_mtu": 1450, "to_mtu": 1400, "silent": True,
         "likely_encapsulation": []},
    ]  # fmt: skip
    links = _links(merge([AgentPath("x", 0, doc)]))
    first = links["addr:192.0.2.2", "addr:198.51.100.2"]
    second = links["addr:198.51.100.2", "addr:203.0.113.2"]
    assert first.drop and not first.silent and first.encapsulations == ["VXLAN over IPv4"]
    assert second.drop and second.silent and second.mtus == {1400}


def test_a_clamp_is_marked_where_its_facts_place_it() -> None:
    # Two-ended: measured end to end, so it is marked on the target.
    g = merge([AgentPath("tokyo", 0, lab_report("clamp-responder"))])
    clamps = g.nodes["addr:203.0.113.2"].clamps
    assert {(c.before, c.after, c.direction) for c in clamps} == {
        (1460, 1300, "client->server"),
        (1460, 1300, "server->client"),
    }
    # A middlebox walk names the hop ("1 or 2": the first).
    doc = copy.deepcopy(lab_report("clamp"))
    doc["findings"].append(
        {"kind": "mss-rewritten", "severity": "info", "summary": "MSS rewritten 1460 -> 1300",
         "evidence": [], "advice": "", "facts": {"hop": "1 or 2", "original_mss": 1460,
                                                 "mss": 1300}}
    )  # fmt: skip
    g = merge([AgentPath("tokyo", 0, doc)])
    assert [(c.before, c.after) for c in g.nodes["addr:192.0.2.2"].clamps] == [(1460, 1300)]
    assert '<g class="clamp" data-before="1460" data-after="1300">' in path_svg(g)


def test_a_trace_that_stops_short_ends_in_a_dashed_link() -> None:
    doc = lab_report("clean")
    doc["hops"] = doc["hops"][:2]
    g = merge([AgentPath("x", 0, doc)])
    last = _links(g)["addr:198.51.100.2", "addr:203.0.113.2"]
    assert not last.reached
    assert 'class="link unreached"' in path_svg(g)


def test_odd_reports_draw_what_they_can() -> None:
    # The store keeps reports as the agents sent them; the graph never trusts their shape.
    odd: list[dict[str, Any]] = [
        {"target": "203.0.113.2", "hops": "none",
         "findings": [{"kind": "mss-rewritten", "facts": []}]},
        {"hops": [None, {"ttl": "x", "address": 7}], "mtu_drop": {"after_hop": 9, "at_hop": 10}},
        {},
    ]  # fmt: skip
    g = merge([AgentPath(f"a{i}", 0, doc) for i, doc in enumerate(odd)])
    assert "target" in g.nodes and 'id="path-graph"' in path_svg(g)
    assert any("did not record" in n for n in g.notes)
