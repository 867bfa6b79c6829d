"""The HTTP/1.1 request `probe --download` sends, and the user's own request bytes.

Layer: wire/ (bytes only). A server that waits for a request (HTTP on 8080)
says nothing after the handshake; an empty transfer then looks like a stall.
`http_get` builds the smallest request that makes it talk (RFC 9112 §3, with
the Host field of RFC 9110 §7.2); `unescape_request` turns what the user typed
for `--request` (with ``\\r\\n`` escapes) into the bytes to send.
"""

from __future__ import annotations

from ipaddress import ip_address

from mtuscope.errors import UsageError

__all__ = [
    "http_get",
    "unescape_request",
]

_DEFAULT_PORT = 80
_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\"}


def _host_field(host: str, port: int) -> str:
    """RFC 9110 §7.2: uri-host [":" port], an IPv6 literal in brackets, the port
    left out when it is the scheme's default."""
    name = host.strip()
    bare = name.strip("[]")
    try:
        literal = ip_address(bare)
    except ValueError:
        pass
    else:
        name = f"[{bare}]" if literal.version == 6 else bare
    return name if port == _DEFAULT_PORT else f"{name}:{port}"


def http_get(host: str, port: int, *, path: str = "/") -> bytes:
    """`GET path HTTP/1.1` with Host, a User-Agent and `Connection: close`.

    `Connection: close` makes the server end the response with a FIN, so the
    end of the body is the end of the connection.

    Args:
        host: the host as the user typed it (a name or an address literal).
        port: the TCP port (left out of Host when 80).
        path: the request target, origin-form.

    Returns:
        The request bytes, ASCII, ending in the empty line.

    Raises:
        UsageError: a path that is not origin-form ASCII without spaces or
            controls, a host with spaces or controls, or a port outside 1..65535.
    """
    if not 1 <= port <= 65535:
        raise UsageError(f"HTTP request: port {port} outside 1..65535")
    field = _host_field(host, port)
    for what, text in (("path", path), ("host", field)):
        if not text or not text.isascii() or any(c <= " " or c == "\x7f" for c in text):
            raise UsageError(f"HTTP request: {what} {text!r} is not printable ASCII without spaces")
    if not path.startswith("/"):
        raise UsageError(f"HTTP request: path {path!r} must start with '/'")
    lines = (
        f"GET {path} HTTP/1.1",
        f"Host: {field}",
        "User-Agent: mtuscope",
        "Accept: */*",
        "Connection: close",
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def unescape_request(text: str) -> bytes:
    """The bytes of a request typed on the command line: UTF-8, with backslash escapes.

    Escapes: ``\\r``, ``\\n``, ``\\t``, ``\\0``, ``\\\\`` and ``\\xHH`` (one byte).

    Args:
        text: what the user typed, e.g. ``"HEAD / HTTP/1.0\\r\\n\\r\\n"``.

    Returns:
        The bytes to send.

    Raises:
        UsageError: an empty request, an unknown escape or a bad ``\\x``.
    """
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        code = text[i + 1 : i + 2]
        if code in _ESCAPES:
            out += _ESCAPES[code]
            i += 2
        elif code == "x" and _is_hex(text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            shown = text[i : i + 4]
            raise UsageError(
                f"--request: unknown escape {shown} at character {i + 1} "
                "(use \\r \\n \\t \\0 \\\\ or \\xHH)"
            )
    if not out:
        raise UsageError("--request: the request is empty")
    return bytes(out)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)
