"""What the CLI says when it refuses: one line, one speaker, no internal names (issue 9 pt 12)."""

from __future__ import annotations

import os
import re
import sys
from ipaddress import IPv6Address

import pytest

from mtuscope.active.probe import Probe, ProbeKind
from mtuscope.active.transport import UdpTransport
from mtuscope.cli import main
from mtuscope.errors import UsageError

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
_INTERNAL = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*\b|<\w+[ .]|\b[A-Z]\w+\.[A-Z_]+\b")
"""A CamelCase class name, a Python repr (`<Foo ...>`, `Enum.MEMBER`)."""


def _error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"{prog}: "), line
    assert not line[len(prog) + 2 :].startswith(("mtuscope", prog.split()[-1] + ":")), line
    assert not _INTERNAL.search(line), line
    return line


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "-4", "-6", "192.0.2.1"],
        ["trace", "192.0.2.1", "-6", "-4"],
        ["sweep", "-4", "192.0.2.1", "--from", "1300", "--to", "1400", "-6"],
        ["middlebox", "-6", "-4", "192.0.2.1", "--port", "80"],
        ["responder-check", "-4", "-6", "192.0.2.1:4000"],
    ],
)
def test_both_families_is_a_usage_error_that_says_so(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    line = _error_line(capsys, f"mtuscope {argv[0]}")
    assert "-4 and -6 exclude each other" in line


def test_one_family_twice_is_that_family(capsys: pytest.CaptureFixture[str]) -> None:
    # -6 -6 is no contradiction: it asks for IPv6, and 127.0.0.1 is not IPv6.
    assert main(["probe", "-6", "-6", "127.0.0.1"]) == 2
    assert "is an IPv4 address, not IPv6" in _error_line(capsys, "mtuscope probe")


@pytest.mark.parametrize(
    ("argv", "prog", "text"),
    [
        (["probe", "127.0.0.1", "--kind", "tcp"], "mtuscope probe", "--kind tcp needs --port"),
        (["probe"], "mtuscope probe", "required: HOST"),
        (["nosuchverb"], "mtuscope", "invalid choice"),
        (["calc", "eth", "--explain-mtu", "1400"], "mtuscope calc", "give either layers"),
        (["lab", "run", "somelab"], "mtuscope lab run", "no command given"),
        (["lab", "down", "x", "--all"], "mtuscope lab down", "give a lab or --all"),
        (["analyze", "/nonexistent.pcap"], "mtuscope analyze", "/nonexistent.pcap"),
        (
            ["responder-check", "[2001:db8::1"],
            "mtuscope responder-check",
            ": the responder '[2001:db8::1': expected [ADDRESS]:PORT",
        ),
    ],
)
def test_error_lines_name_the_verb_once(
    argv: list[str], prog: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert text in _error_line(capsys, prog)


def test_udp_mode_refusal_names_no_class() -> None:
    probe = Probe(
        id=1,
        kind=ProbeKind.UDP,
        dst=IPv6Address("2001:db8::1"),
        size=1280,
        family=6,
        ttl=64,
        dport=33434,
    )
    with UdpTransport(4) as transport, pytest.raises(UsageError) as caught:
        transport.send(probe, b"", 0.0)
    assert "UDP probes" in str(caught.value)
    assert not _INTERNAL.search(str(caught.value)), caught.value


@pytest.mark.skipif(not ROOT, reason="needs root to drop to uid nobody")
def test_raw_socket_refusal_names_no_class() -> None:
    # A real refusal: the kernel's, to uid nobody without CAP_NET_RAW. The child
    # drops privileges after fork (the interpreter may sit where nobody cannot
    # read) and runs the CLI in-process, its stderr into a pipe.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # the child
        code = 99
        try:
            os.dup2(write_end, 2)
            sys.stderr = os.fdopen(2, "w", closefd=False)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = main(["middlebox", "127.0.0.1", "--port", "9"])
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        err = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, err
    (line,) = err.strip().splitlines()
    assert line.startswith("mtuscope middlebox: raw sockets need root or CAP_NET_RAW"), line
    assert "--unprivileged" in line
    assert not _INTERNAL.search(line), line
