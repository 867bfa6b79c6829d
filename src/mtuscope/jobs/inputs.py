"""What users type, checked once for every edge: HOST:PORT, host names, platforms.

Layer: jobs/. `resolve` asks the system resolver (the only DNS look-up in
mtuscope); the rest is parsing. Every failure is a `UsageError` whose text is
the one line the CLI prints and the server returns with its 422.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address

from mtuscope.active.probe import IPAddress
from mtuscope.errors import UsageError

PORT_RANGE = (1, 65535)
"""Ports a user may name (0 is no port a connection can use)."""


def split_host_port(text: str, *, what: str, port_required: bool) -> tuple[str, int | None]:
    """Split HOST:PORT, [V6]:PORT, a bare IPv6 address or a bare HOST.

    Args:
        text: what the user typed.
        what: the flag or field it came from, for the error line ("--filter").
        port_required: a missing port is an error.

    Returns:
        The host text (brackets removed) and the port, or None when absent.

    Raises:
        UsageError: an empty host, a port that is not a number in 1..65535, or a
            missing port when one is required.
    """
    host, port_text = text, None
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise UsageError(f"{what} {text!r}: expected [ADDRESS]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise UsageError(f"{what} {text!r}: no host")
    if port_text is None:
        if port_required:
            raise UsageError(f"{what} {text!r}: expected HOST:PORT")
        return host, None
    return host, parse_port(port_text, what=f"{what} {text!r}")


def parse_port(text: str | int, *, what: str) -> int:
    """A port number in `PORT_RANGE`.

    Raises:
        UsageError: not a number, or out of range.
    """
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"{what}: port {text!r} is not a number") from None
    lo, hi = PORT_RANGE
    if not lo <= port <= hi:
        raise UsageError(f"{what}: port {port} is outside {lo}..{hi}")
    return port


HOST_MAX = 253
"""Longest host name (RFC 1035 section 2.3.4, in its dotted text form)."""
LABEL_MAX = 63


def check_host(text: str, *, what: str = "host") -> str:
    """A numeric address or a host name that could be looked up; no DNS is asked.

    Names are checked as the resolver would take them: IDNA-encodable, labels of
    1 to 63 letters, digits and hyphens not starting or ending with a hyphen,
    253 characters at most; one trailing dot is allowed.

    Returns:
        The host as given, with brackets around an IPv6 address removed.

    Raises:
        UsageError: anything else, with the reason.
    """
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip_address(host)
        return host
    except ValueError:
        pass
    try:
        ascii_name = host.encode("idna").decode("ascii") if host else ""
    except UnicodeError as exc:
        raise UsageError(f"{what} {text!r}: not a host name ({exc})") from None
    name = ascii_name[:-1] if ascii_name.endswith(".") else ascii_name
    if not name:
        raise UsageError(f"{what} {text!r}: empty")
    if len(name) > HOST_MAX:
        raise UsageError(f"{what} {text!r}: longer than {HOST_MAX} characters")
    for label in name.split("."):
        if not label:
            raise UsageError(f"{what} {text!r}: an empty label")
        if len(label) > LABEL_MAX:
            raise UsageError(f"{what} {text!r}: a label longer than {LABEL_MAX} characters")
        if label[0] == "-" or label[-1] == "-" or not all(c.isalnum() or c == "-" for c in label):
            raise UsageError(f"{what} {text!r}: {label!r} is not a host name label")
    return host


def check_family(family: int | None) -> int | None:
    """4, 6 or None.

    Raises:
        UsageError: any other value.
    """
    if family not in (None, 4, 6):
        raise UsageError(f"IP family must be 4 or 6, not {family}")
    return family


def resolve(host: str, family: int | None = None) -> IPAddress:
    """The address to use: `host` itself when numeric, else the resolver's first answer.

    Args:
        host: a name or a numeric address (brackets allowed around IPv6).
        family: 4 or 6 to ask for one family only; None for either.

    Returns:
        The address.

    Raises:
        UsageError: the name does not resolve (in that family), or a numeric
            address of the other family was given.
    """
    try:
        address: IPAddress = ip_address(host.strip("[]"))
    except ValueError:
        address = _lookup(host, family)
    if family is not None and address.version != family:
        raise UsageError(f"{host} is an IPv{address.version} address, not IPv{family}")
    return address


def _lookup(host: str, family: int | None) -> IPAddress:
    af = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}[family]
    try:
        infos = socket.getaddrinfo(host, None, af, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        # UnicodeError: the IDNA codec refuses a label (empty, or over 63 characters).
        raise UsageError(
            f"cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    if not infos:
        raise UsageError(f"cannot resolve {host!r}")
    return ip_address(str(infos[0][4][0]).split("%")[0])


def check_platform(name: str | None) -> str | None:
    """The canonical name of a configuration platform (aliases allowed), or None.

    Raises:
        UsageError: an unknown platform; the line lists the known ones.
    """
    if name is None:
        return None
    from mtuscope.calc.snippets import platform_name

    return platform_name(name)
