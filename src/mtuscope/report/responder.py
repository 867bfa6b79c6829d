"""The two-ended report: one connection to `mtuscope responder`, compared end to end.

Layer: report/ (the orchestrator the CLI, `probe --responder` and a future server
call). It runs `active.transport.responder.check_responder`, asks diagnose/
for findings and wraps them in a `Report` of kind "middlebox" (what the path
changes in a handshake; `hops` is empty, the two views are in `two_ended`,
the reverse path MTU in `pmtu_reverse` and `reverse_path`). It talks only to
the one responder it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from mtuscope.active.transport.responder import check_responder
from mtuscope.diagnose.responder import diagnose_two_ended
from mtuscope.errors import UsageError
from mtuscope.jobs.inputs import resolve
from mtuscope.report.middlebox_json import two_ended_body
from mtuscope.report.model import Report


def parse_host_port(text: str) -> tuple[str, int]:
    """Split `HOST:PORT` or `[IPv6]:PORT` into host and port.

    Args:
        text: what the user typed, e.g. "192.0.2.1:7000" or "[2001:db8::2]:7000".

    Returns:
        (host, port).

    Raises:
        UsageError: no port, or one outside 1..65535.
    """
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep)
    else:
        host, _, port_text = text.rpartition(":")
        ok = ":" not in host  # a bare IPv6 address needs its brackets
    if not ok or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"{text!r}: want HOST:PORT or [IPv6]:PORT with a port 1..65535")
    return host, int(port_text)


def two_ended_report(
    host: str,
    port: int,
    *,
    family: int | None = None,
    platform: str | None = None,
    timeout: float = 5.0,
    reverse_pmtu: bool = True,
    capture: bool | None = None,
) -> Report:
    """Connect to a responder and report what the path did to the handshake, both ways.

    Args:
        host: the responder's name or address.
        port: its TCP port.
        family: 4 or 6 to resolve `host` in that family only; None for either.
        platform: a `calc.snippets` platform for configuration lines in the advice.
        timeout: seconds for the handshake and the answer (a reverse search adds up to 30).
        reverse_pmtu: ask the responder to measure the path MTU back toward us.
        capture: capture our own SYN (root): True requires it, None when allowed.

    Returns:
        A "middlebox" report; without the capture, a warning says what could not be compared.

    Raises:
        UsageError: a bad host, port or platform.
        RawSocketDenied: `capture=True` without root.
        ProbeError: the responder could not be reached or refused.
        DecodeError: the responder's answer does not decode.
    """
    if family not in (None, 4, 6):
        raise UsageError(f"IP family must be 4 or 6, not {family}")
    address = resolve(host, family)
    obs = check_responder(
        address, port, reverse_pmtu=reverse_pmtu, timeout=timeout, capture=capture
    )
    findings = diagnose_two_ended(obs, platform=platform)
    warnings: list[str] = []
    if obs.sent is None:
        warnings.append(
            "our own SYN was not captured (that needs root or CAP_NET_RAW): only the MSS "
            "was compared, not the other options or the initial sequence number"
        )
    if obs.reverse is not None and obs.reverse.error is not None:
        warnings.append(f"reverse path MTU not measured: {obs.reverse.error}")
    elif obs.reverse is not None and obs.reverse.result is None:
        warnings.append(f"reverse path MTU search stopped early ({obs.reverse.stop})")
    target = f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"
    return Report(
        kind="middlebox",
        inputs=(f"responder {target}",),
        findings=findings,
        body=two_ended_body(obs),
        warnings=tuple(warnings),
    )


def with_two_ended(path: Report, two: Report) -> Report:
    """A path report with a two-ended check folded in (`probe --responder`).

    The path report keeps its kind and fields; it gains the responder's
    `two_ended` view, `pmtu_reverse` from the responder's own search back toward
    us, and the two-ended findings and warnings.

    Args:
        path: the "path" report of `probe_path`.
        two: the "middlebox" report of `two_ended_report`.

    Returns:
        One "path" report.
    """
    body = dict(path.body)
    body["two_ended"] = two.body["two_ended"]
    if two.body.get("pmtu_reverse") is not None:
        body["pmtu_reverse"] = two.body["pmtu_reverse"]
    if "reverse_path" in two.body:
        body["reverse_path"] = two.body["reverse_path"]
    return Report(
        kind="path",
        inputs=path.inputs + two.inputs,
        findings=path.findings + two.findings,
        body=body,
        warnings=path.warnings + two.warnings,
    )


def render_two_ended_text(body: Mapping[str, Any], stream: TextIO) -> None:
    """A few lines for people: what each end saw (report/text.py may call this).

    Args:
        body: a report body from `two_ended_body`.
        stream: where to write.
    """
    te = body["two_ended"]
    syn = te["syn"]
    sent = syn["sent"]
    seen = syn["seen"]
    sent_mss = sent["mss"] if sent else syn["announced_mss"]
    stream.write(
        f"Two-ended check with {te['server']['address']} port {te['server']['port']}"
        f" (IPv{body['family']})\n"
    )
    stream.write(f"  SYN MSS: {sent_mss} sent, {seen['mss']} arrived\n")
    if sent:
        stream.write(
            f"  SYN options: {','.join(sent['options'])} sent; {','.join(seen['options'])} arrived;"
            f" {syn['hops']} hops\n"
        )
    ack = te["syn_ack"]
    if ack["seen"] is not None:
        stream.write(f"  SYN/ACK MSS: {ack['sent_mss']} sent, {ack['seen']['mss']} arrived\n")
    for field, (mine, theirs) in te["translated"].items():
        stream.write(f"  translated {field}: {mine} here, {theirs} at the responder\n")
    if body.get("reverse") is not None:
        stream.write(f"  path MTU back toward us: {body['pmtu_reverse']}\n")
