"""The two-ended check: one connection to `mtuscope responder`, compared end to end.

Layer: jobs/. Checks the options once (`jobs.inputs`), resolves the responder,
runs the client check (active/transport/responder_client.py), asks diagnose/
for findings, and returns a typed report of kind "middlebox" (what the path
changes in a handshake). It talks only to the one responder it was given.

`probe --responder` folds the same report into a path report (`with_two_ended`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from mtuscope.active.probe import IPAddress
from mtuscope.active.syn_view import Endpoint, TwoEndedObservation
from mtuscope.active.transport.responder_client import check_responder
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.responder import diagnose_two_ended
from mtuscope.errors import UsageError
from mtuscope.jobs.inputs import check_family, check_platform, parse_port, resolve, split_host_port
from mtuscope.jobs.responder_port import RESPONDER_PORT
from mtuscope.jobs.result import JobResult


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoEndedOptions:
    """Which responder to ask, and what for; checked when made (UsageError)."""

    host: str
    """The responder's name or address."""
    port: int
    """Its TCP port, 1..65535."""
    family: int | None = None
    """4 or 6 to resolve `host` in that family only; None for either."""
    platform: str | None = None
    """A configuration platform for the advice (aliases allowed; stored canonical)."""
    timeout: float = 5.0
    """Seconds for the handshake and the answer (a reverse search adds up to 30)."""
    reverse_pmtu: bool = True
    """Ask the responder to measure the path MTU back toward us."""
    capture: bool | None = None
    """Capture our own SYN (root): True requires it, False skips it, None when allowed."""

    def __post_init__(self) -> None:
        parse_port(self.port, what=f"responder {self.host}")
        check_family(self.family)
        if not self.timeout > 0:
            raise UsageError(f"--timeout {self.timeout}: want more than 0 seconds")
        # A frozen dataclass: the canonical platform name replaces the alias once, here.
        object.__setattr__(self, "platform", check_platform(self.platform))

    @classmethod
    def of_target(cls, target: str, *, what: str, **fields: Any) -> TwoEndedOptions:
        """Options for a responder typed as HOST:PORT or [IPv6]:PORT, or without the port
        (then the responder's own, `RESPONDER_PORT`).

        Args:
            target: what the user typed.
            what: the argument it came from, for the error line ("--responder").
            **fields: the other fields of `TwoEndedOptions`.

        Raises:
            UsageError: a bad port, or a bad field.
        """
        host, port = split_host_port(target, what=what, port_required=False)
        return cls(host=host, port=RESPONDER_PORT if port is None else port, **fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoEndedReport(JobResult):
    """A two-ended check: what both ends saw of one connection, and the findings."""

    kind: str = "middlebox"
    observation: TwoEndedObservation
    """The client's and the responder's views of the handshake, and the reverse search."""

    @property
    def address(self) -> IPAddress:
        """The responder's address, as resolved and connected to."""
        return self.observation.target.address

    @property
    def target(self) -> str:
        """The responder as connected to: "192.0.2.1:7000" or "[2001:db8::2]:7000"."""
        return endpoint_text(self.observation.target)


def endpoint_text(where: Endpoint) -> str:
    """HOST:PORT, with brackets around an IPv6 address."""
    if where.address.version == 6:
        return f"[{where.address}]:{where.port}"
    return f"{where.address}:{where.port}"


def check_two_ended(opts: TwoEndedOptions) -> TwoEndedReport:
    """Connect to a responder and report what the path did to the handshake, both ways.

    Args:
        opts: checked options.

    Returns:
        The report (kind "middlebox"); without the capture of our own SYN, or when
        the reverse search did not finish, a warning says what is missing.

    Raises:
        UsageError: the host does not resolve (in the family asked for).
        RawSocketDenied: `capture=True` without root.
        ProbeError: the responder could not be reached or refused.
        DecodeError: the responder's answer does not decode.
    """
    address = resolve(opts.host, opts.family)
    obs = check_responder(
        address,
        opts.port,
        reverse_pmtu=opts.reverse_pmtu,
        timeout=opts.timeout,
        capture=opts.capture,
    )
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
    return TwoEndedReport(
        inputs=(f"responder {endpoint_text(obs.target)}",),
        findings=diagnose_two_ended(obs, platform=opts.platform),
        warnings=tuple(warnings),
        observation=obs,
    )


class PathWithTwoEnded(Protocol):
    """What `with_two_ended` needs of a path report (jobs/probe.py `PathReport` has it)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def inputs(self) -> tuple[str, ...]: ...

    @property
    def findings(self) -> tuple[Finding, ...]: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...

    @property
    def two_ended(self) -> TwoEndedReport | None: ...


P = TypeVar("P", bound=PathWithTwoEnded)


def with_two_ended(path_report: P, two: TwoEndedReport) -> P:
    """A path report with a two-ended check folded in (`probe --responder`).

    The path report keeps its kind and fields; it gains the check (`two_ended`:
    its JSON adds `two_ended`, `pmtu_reverse` from the responder's own search back
    toward us, and `reverse_path`; see report/middlebox_json.py `two_ended_fields`),
    and the check's inputs, findings and warnings after its own.

    Args:
        path_report: the path report (any frozen dataclass with those fields).
        two: the report of `check_two_ended`.

    Returns:
        A new path report of the same type.
    """
    return dataclasses.replace(
        path_report,
        two_ended=two,
        inputs=path_report.inputs + two.inputs,
        findings=path_report.findings + two.findings,
        warnings=path_report.warnings + two.warnings,
    )
