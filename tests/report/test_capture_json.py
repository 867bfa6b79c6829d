"""report/capture_json.py: the capture body from the typed analyses, rows rendered lazily."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from mtuscope.passive import CaptureAnalysis, analyse, finish
from mtuscope.report.capture_json import ConnectionRows, connection_rows, linktype_name
from mtuscope.report.serialize import plain
from passive import scenarios as sc
from passive.tables import packet_table


def run(packets: sc.Packets, name: str = "t.pcap", first_id: int = 1) -> CaptureAnalysis:
    return finish(analyse(packet_table(packets), capture=name), first_id=first_id)


def _body(a: CaptureAnalysis) -> dict[str, Any]:
    return {
        "connections": connection_rows(a),
        "icmp_too_big": [plain(m) for m in a.icmp_too_big],
        "fragments": [plain(f) for f in a.fragments],
    }


BODY_SCHEMA = {
    "type": "object",
    "required": ["connections", "icmp_too_big"],
    "properties": {
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "family",
                    "client",
                    "server",
                    "retransmissions",
                    "encapsulation",
                ],
                "properties": {
                    "family": {"enum": [4, 6]},
                    "client": {"$ref": "#/$defs/endpoint"},
                    "server": {"$ref": "#/$defs/endpoint"},
                    "retransmissions": {"type": "integer"},
                    "encapsulation": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "icmp_too_big": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "capture",
                    "frame",
                    "sender",
                    "mtu",
                    "ttl",
                    "initial_ttl_guess",
                    "connection",
                ],
                "properties": {"connection": {"type": ["integer", "null"]}},
            },
        },
    },
    "$defs": {
        "endpoint": {
            "type": "object",
            "required": ["address", "port", "mss", "max_segment"],
            "properties": {
                "address": {"type": "string"},
                "port": {"type": "integer"},
                "mss": {"type": ["integer", "null"]},
                "max_segment": {"type": "integer"},
            },
        }
    },
}


def test_body_matches_the_design_contract() -> None:
    a = run(sc.icmp_ignored() + sc.fragments(), name="x.pcap")
    body = _body(a)
    jsonschema.validate(body, BODY_SCHEMA)
    json.dumps(body)  # JSON-ready
    conn = body["connections"][0]
    assert conn["client"]["address"] == sc.C4 and conn["server"]["mss"] == 1460
    assert conn["retransmissions"] == 0 and conn["path_mtu"] == 1400
    assert body["icmp_too_big"][0]["capture"] == "x.pcap"
    assert body["icmp_too_big"][0]["connection"] == 1
    assert body["fragments"][0]["fragments"] == 2


def test_connection_rows_render_any_slice_of_the_columns() -> None:
    a = run(sc.apart(sc.healthy(), sc.blackhole(), sc.exceeds_mss(), sc.icmp_ignored()))
    whole = connection_rows(a)
    assert [c["id"] for c in whole] == list(range(1, a.connection_count + 1))
    assert whole[0]["client"]["black_holes"] == [] and "oversized" in whole[0]["server"]
    n = len(whole)
    for start in range(n + 1):
        for stop in range(start, n + 1):
            assert connection_rows(a, start, stop) == whole[start:stop]


def test_rows_of_several_analyses_keep_their_ids_and_captures() -> None:
    one = run(sc.apart(sc.healthy(), sc.blackhole()), name="a.pcap")
    two = run(sc.healthy(), name="b.pcap", first_id=one.connection_count + 1)
    rows = ConnectionRows([one, two])
    assert len(rows) == 3 and rows and not ConnectionRows([])
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert [r["capture"] for r in rows] == ["a.pcap", "a.pcap", "b.pcap"]
    assert rows[-1] == list(rows)[-1] == rows[2] and rows[1:3] == list(rows)[1:3]
    assert rows[::2] == [rows[0], rows[2]]
    assert json.loads(json.dumps(list(rows))) == list(rows)
    rows.BATCH = 1
    assert list(rows) == [rows[0], rows[1], rows[2]]


def test_link_types_are_named() -> None:
    assert linktype_name(1) == "ether" and linktype_name(147) == "linktype-147"
