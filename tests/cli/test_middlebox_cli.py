"""`mtuscope middlebox`: argument handling, exit codes and the text report.

The walk itself runs against real lab routers in tests/e2e/test_middlebox_lab.py;
here the verb is checked through its parser and the top-level `main`.
"""

from __future__ import annotations

import argparse
import io
import json
from ipaddress import IPv4Address

import pytest
from rich.console import Console

from mtuscope import cli
from mtuscope.active.middlebox_result import (
    HopQuote,
    MiddleboxResult,
    MiddleboxStop,
    Response,
    Terminated,
    path_changes,
)
from mtuscope.active.probe import ProbeOutcome
from mtuscope.active.quote_diff import MSS_FIELD, FieldChange
from mtuscope.cli import middlebox
from mtuscope.diagnose.middlebox import diagnose_middlebox
from mtuscope.jobs.middlebox import MiddleboxReport
from mtuscope.report.middlebox_text import change_lines, render


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    middlebox.add_parser(parser.add_subparsers())
    return parser.parse_args(["middlebox", *argv])


def test_defaults() -> None:
    args = parse("203.0.113.2", "--port", "443")
    assert (args.port, args.max_ttl, args.timeout, args.proxy_check) == (443, 16, 0.5, True)
    assert args.family is None and args.run is middlebox.run


def test_port_is_required(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["middlebox", "203.0.113.2"]) == cli.EXIT_USAGE
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["203.0.113.2", "--port", "0"], "--port: port 0 is outside 1..65535"),
        (["203.0.113.2", "--port", "443", "--max-ttl", "0"], "--max-ttl 0"),
        (["203.0.113.2", "--port", "443", "--timeout", "0"], "--timeout"),
        (["203.0.113.2", "--port", "443", "-6"], "an IPv4 address, not IPv6"),
        (["203.0.113.2", "--port", "443", "--platform", "nope"], "unknown"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    argv: list[str], words: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["middlebox", *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def _report() -> MiddleboxReport:
    addresses = [IPv4Address("192.0.2.2"), IPv4Address("198.51.100.2"), None]
    hops = tuple(
        HopQuote(
            ttl=i + 1,
            address=a,
            probe_id=i + 1,
            outcome=ProbeOutcome.TIME_EXCEEDED if a else ProbeOutcome.LOST,
            quote_bytes=60 if a else 0,
            changed=(FieldChange(field=MSS_FIELD, sent=1460, seen=1300),) if i == 1 else (),
            compared=(MSS_FIELD,) if a else (),
            too_short=i == 0,
        )
        for i, a in enumerate(addresses)
    )
    result = MiddleboxResult(
        dst=IPv4Address("203.0.113.2"),
        dport=8443,
        family=4,
        hops=hops,
        changes=path_changes(hops),
        response=Response(
            probe_id=4,
            ttl=4,
            address=IPv4Address("203.0.113.2"),
            syn_ack=True,
            reply_ttl=61,
            fields=((MSS_FIELD, 1300),),
        ),
        terminated=Terminated(
            ttl=4, address=IPv4Address("198.51.100.130"), probe_id=9, syn_ack_probe=4
        ),
        relay_checked=True,
        stop_reason=MiddleboxStop.REACHED,
        probes=(),
        seconds=0.12,
    )
    return MiddleboxReport(
        inputs=("203.0.113.2 port 8443",),
        findings=diagnose_middlebox(result),
        target="203.0.113.2",
        walk=result,
    )


def test_text_report_tells_where_things_changed() -> None:
    report = _report()
    out = io.StringIO()
    render(report, Console(file=out, width=140, highlight=False))
    text = out.getvalue()
    assert "MSS rewritten 1460 -> 1300 between hop 1 (192.0.2.2) and hop 2 (198.51.100.2)" in text
    assert "quote too short" in text and "SYN/ACK" in text and "*" in text
    assert "TCP proxy" in text and "0.12 s" in text
    assert change_lines(report.walk)[0].startswith("MSS rewritten")
    assert "0 probes, 0 answered, 0.12 s; stop: reached" in text
    # What the walk cannot see is said, with where to look instead.
    assert text.count("(NAT) cannot show here") == 1 and "responder-check" in text


def test_the_verb_builds_the_options_and_calls_the_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mtuscope.jobs.middlebox as job

    seen: list[job.MiddleboxOptions] = []

    def fake(opts: job.MiddleboxOptions) -> MiddleboxReport:
        seen.append(opts)
        return _report()

    monkeypatch.setattr(job, "middlebox", fake)
    argv = ["middlebox", "203.0.113.2", "--port", "8443", "--max-ttl", "5", "--no-proxy-check"]
    code = cli.main([*argv, "--platform", "cisco", "--json"])
    (opts,) = seen
    assert (opts.host, opts.port, opts.max_ttl, opts.proxy_check) == ("203.0.113.2", 8443, 5, False)
    assert opts.platform == "cisco-ios"
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "middlebox" and doc["inputs"] == ["203.0.113.2 port 8443"]
    assert doc["hops"][1]["changed"] == {MSS_FIELD: [1460, 1300]}
    assert code == cli.EXIT_OK


def test_a_src_of_another_host_is_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["middlebox", "127.0.0.1", "--port", "443", "--src", "203.0.113.77"]
    assert cli.main(argv) == cli.EXIT_USAGE
    out = capsys.readouterr()
    assert out.out == ""
    (line,) = out.err.strip().splitlines()
    assert "--src 203.0.113.77: not an address of this host" in line
