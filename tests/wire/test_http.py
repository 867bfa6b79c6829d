"""The HTTP GET `probe --download` sends, and `--request` text with escapes."""

from __future__ import annotations

import pytest

from mtuscope.errors import UsageError
from mtuscope.wire.http import http_get, unescape_request


def test_http_get_names_the_host_as_typed_with_its_port_and_closes() -> None:
    assert http_get("www.example.org", 8080) == (
        b"GET / HTTP/1.1\r\n"
        b"Host: www.example.org:8080\r\n"
        b"User-Agent: mtuscope\r\n"
        b"Accept: */*\r\n"
        b"Connection: close\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize(
    ("host", "port", "field"),
    [
        ("203.0.113.2", 80, b"Host: 203.0.113.2\r\n"),
        ("2001:db8:0:3::2", 8080, b"Host: [2001:db8:0:3::2]:8080\r\n"),
        ("[2001:db8::2]", 80, b"Host: [2001:db8::2]\r\n"),
        ("lab.example", 443, b"Host: lab.example:443\r\n"),
    ],
)
def test_host_field(host: str, port: int, field: bytes) -> None:
    request = http_get(host, port)
    assert request.split(b"\r\n")[1] + b"\r\n" == field
    assert request.endswith(b"\r\n\r\n") and request.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize(("host", "path"), [("a b", "/"), ("x", "no-slash"), ("x", "/a b")])
def test_http_get_refuses_what_would_break_the_request_line(host: str, path: str) -> None:
    with pytest.raises(UsageError):
        http_get(host, 80, path=path)


def test_unescape_request_turns_escapes_into_bytes() -> None:
    typed = r"HEAD /big HTTP/1.0\r\nX: \x41\t\\\0\r\n\r\n"
    assert unescape_request(typed) == b"HEAD /big HTTP/1.0\r\nX: A\t\\\x00\r\n\r\n"
    assert unescape_request("na\u00efve") == "na\u00efve".encode()


@pytest.mark.parametrize("typed", ["", r"GET \q", "tail\\", r"\x4"])
def test_unescape_request_refuses_bad_escapes_in_one_line(typed: str) -> None:
    with pytest.raises(UsageError) as err:
        unescape_request(typed)
    assert "\n" not in str(err.value) and "--request" in str(err.value)
