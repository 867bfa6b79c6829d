"""A TLS ClientHello built from bytes, and the record framing of what a server answers.

Layer: wire/ (bytes only: no sockets, no clock, no randomness of its own; the
caller passes the random values in). `probe --port 443 --download N` sends this
ClientHello so that the server talks: its ServerHello and certificate chain
fill full-size segments, which is what a PMTU black hole swallows.

The hello offers TLS 1.3 (RFC 8446) and TLS 1.2 (RFC 5246) at once, the way
browsers do: legacy_version 1.2, `supported_versions` {1.3, 1.2}, an X25519
key share, the TLS 1.3 suites and the common ECDHE AES-GCM / ChaCha20 suites of
TLS 1.2, and SNI (RFC 6066 §3) when the host is a name. We never finish the
handshake: the point is the server's first flight, not a session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.errors import Malformed, UsageError

__all__ = [
    "TlsFlight",
    "client_hello",
    "sni_name",
    "tls_flight",
]

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23
"""TLS record content types (RFC 8446 §5.1)."""
_CONTENT_TYPES = frozenset(
    (CONTENT_CHANGE_CIPHER_SPEC, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPLICATION_DATA)
)
_HANDSHAKE_CLIENT_HELLO = 1
_HANDSHAKE_SERVER_HELLO_DONE = 14
_RECORD_HEADER = 5
_MAX_RECORD = (1 << 14) + 256
"""Largest TLSCiphertext fragment (RFC 8446 §5.2: 2^14 + 256)."""

# RFC 8446 §B.4 and the IANA TLS cipher suite registry (RFC 5289, RFC 7905).
_CIPHER_SUITES = (
    0x1301,  # TLS_AES_128_GCM_SHA256
    0x1302,  # TLS_AES_256_GCM_SHA384
    0x1303,  # TLS_CHACHA20_POLY1305_SHA256
    0xC02B,  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    0xC02F,  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    0xC02C,  # TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    0xC030,  # TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    0xCCA9,  # TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    0xCCA8,  # TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    0x009C,  # TLS_RSA_WITH_AES_128_GCM_SHA256 (old servers)
    0x009D,  # TLS_RSA_WITH_AES_256_GCM_SHA384
)
# Extension types (IANA "TLS ExtensionType Values").
_EXT_SERVER_NAME = 0  # RFC 6066 §3
_EXT_SUPPORTED_GROUPS = 10  # RFC 8446 §4.2.7
_EXT_EC_POINT_FORMATS = 11  # RFC 8422 §5.1.2
_EXT_SIGNATURE_ALGORITHMS = 13  # RFC 8446 §4.2.3
_EXT_EXTENDED_MASTER_SECRET = 23  # RFC 7627
_EXT_SUPPORTED_VERSIONS = 43  # RFC 8446 §4.2.1
_EXT_PSK_MODES = 45  # RFC 8446 §4.2.9
_EXT_KEY_SHARE = 51  # RFC 8446 §4.2.8
_EXT_RENEGOTIATION_INFO = 0xFF01  # RFC 5746 §3.2
_GROUP_X25519 = 0x001D
_GROUPS = (_GROUP_X25519, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
_SIGNATURE_SCHEMES = (
    0x0403,  # ecdsa_secp256r1_sha256
    0x0804,  # rsa_pss_rsae_sha256
    0x0401,  # rsa_pkcs1_sha256
    0x0503,  # ecdsa_secp384r1_sha384
    0x0805,  # rsa_pss_rsae_sha384
    0x0501,  # rsa_pkcs1_sha384
    0x0806,  # rsa_pss_rsae_sha512
    0x0601,  # rsa_pkcs1_sha512
    0x0807,  # ed25519
)
_TLS12 = 0x0303
_TLS13 = 0x0304
_LEGACY_RECORD_VERSION = 0x0301
"""RFC 8446 §5.1: a ClientHello's record may say 0x0301 for compatibility."""


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _vec8(body: bytes) -> bytes:
    return bytes((len(body),)) + body


def _vec16(body: bytes) -> bytes:
    return _u16(len(body)) + body


def _extension(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _vec16(body)


def sni_name(host: str) -> bytes | None:
    """The SNI host name for `host` as typed: None for an address literal (RFC 6066 §3).

    Args:
        host: the host as the user typed it.

    Returns:
        The ASCII (IDNA) name without a trailing dot, or None for an IP address.

    Raises:
        UsageError: a name that cannot be an SNI host name (empty, over 255
            bytes, a label over 63 or not IDNA-encodable).
    """
    name = host.strip().rstrip(".")
    try:
        ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        return None
    try:
        encoded = name.encode("idna")
    except UnicodeError as exc:
        raise UsageError(f"{host!r} is not a host name TLS can name (SNI)") from exc
    if not encoded or len(encoded) > 255:
        raise UsageError(f"{host!r} is not a host name TLS can name (SNI)")
    return encoded


def client_hello(*, host: str, random: bytes, session_id: bytes, x25519_share: bytes) -> bytes:
    """One TLS record holding a ClientHello for TLS 1.3 and 1.2.

    Args:
        host: the host as typed: a name gets a `server_name` extension, an
            address literal none.
        random: the 32 bytes of ClientHello.random.
        session_id: the legacy session id (32 bytes, RFC 8446 §D.4 middlebox
            compatibility; 0 to 32 bytes accepted).
        x25519_share: a 32-byte X25519 public key for the key share (any 32
            bytes other than a low-order point; we never finish the handshake).

    Returns:
        The record: content type 22, version 0x0301, the handshake message.

    Raises:
        UsageError: wrong lengths, or a host name SNI cannot carry.
    """
    if len(random) != 32 or len(x25519_share) != 32 or len(session_id) > 32:
        raise UsageError("ClientHello: random and key share are 32 bytes, session id at most 32")
    extensions = [
        _extension(_EXT_SUPPORTED_VERSIONS, _vec8(_u16(_TLS13) + _u16(_TLS12))),
        _extension(_EXT_SUPPORTED_GROUPS, _vec16(b"".join(_u16(g) for g in _GROUPS))),
        _extension(_EXT_EC_POINT_FORMATS, _vec8(b"\x00")),  # uncompressed
        _extension(_EXT_SIGNATURE_ALGORITHMS, _vec16(b"".join(map(_u16, _SIGNATURE_SCHEMES)))),
        # KeyShareClientHello: one entry
        _extension(_EXT_KEY_SHARE, _vec16(_u16(_GROUP_X25519) + _vec16(x25519_share))),
        _extension(_EXT_PSK_MODES, _vec8(b"\x01")),  # psk_dhe_ke
        _extension(_EXT_EXTENDED_MASTER_SECRET, b""),
        _extension(_EXT_RENEGOTIATION_INFO, _vec8(b"")),  # an initial handshake
    ]
    name = sni_name(host)
    if name is not None:
        # ServerNameList of one HostName (name_type 0).
        extensions.insert(0, _extension(_EXT_SERVER_NAME, _vec16(b"\x00" + _vec16(name))))
    body = (
        _u16(_TLS12)  # legacy_version
        + random
        + _vec8(session_id)
        + _vec16(b"".join(_u16(c) for c in _CIPHER_SUITES))
        + _vec8(b"\x00")  # legacy_compression_methods: null only
        + _vec16(b"".join(extensions))
    )
    handshake = bytes((_HANDSHAKE_CLIENT_HELLO,)) + struct.pack("!I", len(body))[1:] + body
    return bytes((CONTENT_HANDSHAKE,)) + _u16(_LEGACY_RECORD_VERSION) + _vec16(handshake)


@dataclass(frozen=True, slots=True)
class TlsFlight:
    """How far the bytes a TLS server sent (from its first byte) have come."""

    due: int | None
    """Bytes still due to finish the last record started (0: the data ends on a
    record boundary); None while not even a record header has come."""
    waits_for_client: bool
    """The server's first flight is whole: the data ends on a record boundary
    after a TLS 1.2 ServerHelloDone, a TLS 1.3 encrypted record (its flight ends
    with its Finished, all encrypted), or an alert. The server now waits for us."""


def tls_flight(data: bytes) -> TlsFlight:
    """Read the record framing of what a TLS server sent in answer to our ClientHello.

    A server that has sent its first flight waits for the client: its bytes end
    on a record boundary. Bytes that stop inside a record mean more are due.

    Args:
        data: the bytes received so far, from the first.

    Returns:
        The bytes still due and whether the first flight is whole.

    Raises:
        Malformed: the bytes are not TLS records (an unknown content type, a
            version not 3.x, or a length over 2^14 + 256).
    """
    offset = 0
    handshake = bytearray()  # handshake messages may span records (RFC 8446 §5.1)
    finished = False
    while True:
        left = len(data) - offset
        if left == 0:
            if offset == 0:
                return TlsFlight(due=None, waits_for_client=False)
            return TlsFlight(due=0, waits_for_client=finished or _hello_done(handshake))
        if left < _RECORD_HEADER:
            # At least the rest of the header is due.
            return TlsFlight(due=_RECORD_HEADER - left, waits_for_client=False)
        kind, major, length = data[offset], data[offset + 1], _be16(data, offset + 3)
        if kind not in _CONTENT_TYPES or major != 3 or length > _MAX_RECORD:
            raise Malformed(f"not a TLS record at byte {offset}", offset=offset)
        end = offset + _RECORD_HEADER + length
        if end > len(data):
            return TlsFlight(due=end - len(data), waits_for_client=False)
        if kind == CONTENT_HANDSHAKE:
            handshake += data[offset + _RECORD_HEADER : end]
        elif kind in (CONTENT_APPLICATION_DATA, CONTENT_ALERT):
            finished = True
        offset = end


def _hello_done(handshake: bytes | bytearray) -> bool:
    """True when the handshake messages hold a ServerHelloDone (TLS 1.2, RFC 5246 §7.4.5)."""
    offset = 0
    while offset + 4 <= len(handshake):
        kind = handshake[offset]
        length = int.from_bytes(handshake[offset + 1 : offset + 4], "big")
        if kind == _HANDSHAKE_SERVER_HELLO_DONE and length == 0:
            return True
        offset += 4 + length
    return False


def _be16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("!H", data, offset)[0])
