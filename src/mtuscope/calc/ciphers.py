"""Sizes of the cryptographic transforms that tunnels wrap packets in.

Layer: calc/. Constant tables with the RFC or vendor reference for each figure;
no I/O and no arithmetic beyond looking names up. The padding arithmetic that
uses these sizes lives in `layers.py` (`Layer.max_payload`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class EspTransform:
    """One ESP encryption + integrity combination (RFC 4303 §2)."""

    name: str
    """Canonical name as typed on the command line ("aes-cbc-sha1")."""
    label: str
    """For people ("AES-CBC + HMAC-SHA1-96")."""
    iv: int
    """Bytes of IV carried in every packet, before the ciphertext."""
    block: int
    """Bytes the ciphertext (payload + padding + 2-byte trailer) must be a multiple of.

    RFC 4303 §2.4: whatever the cipher, the Pad Length and Next Header fields must
    end on a 4-byte boundary, so stream and AEAD modes still align to 4.
    """
    icv: int
    """Bytes of integrity check value appended after the ciphertext."""
    reference: str


# RFC 4303 §2 ESP: SPI (4) + sequence number (4) before the IV; pad length (1) and
# next header (1) after the padding, inside the encrypted part.
ESP_SPI_SEQ = 8
ESP_TRAILER = 2
NAT_T_UDP = 8
"""RFC 3948 §2.1: UDP encapsulation of ESP adds an 8-byte UDP header (port 4500)."""

_AES_CBC = "RFC 3602 §3 (AES-CBC: 16-byte IV, 16-byte blocks)"
_ESP_TRANSFORMS = (
    EspTransform(
        name="aes-cbc-sha1",
        label="AES-CBC + HMAC-SHA1-96",
        iv=16,
        block=16,
        icv=12,
        reference=f"{_AES_CBC}; RFC 2404 §2 (HMAC-SHA-1-96: 12-byte ICV)",
    ),
    EspTransform(
        name="aes-cbc-sha256",
        label="AES-CBC + HMAC-SHA256-128",
        iv=16,
        block=16,
        icv=16,
        reference=f"{_AES_CBC}; RFC 4868 §2.3 (HMAC-SHA-256-128: 16-byte ICV)",
    ),
    EspTransform(
        name="aes-cbc-sha384",
        label="AES-CBC + HMAC-SHA384-192",
        iv=16,
        block=16,
        icv=24,
        reference=f"{_AES_CBC}; RFC 4868 §2.3 (HMAC-SHA-384-192: 24-byte ICV)",
    ),
    EspTransform(
        name="aes-cbc-sha512",
        label="AES-CBC + HMAC-SHA512-256",
        iv=16,
        block=16,
        icv=32,
        reference=f"{_AES_CBC}; RFC 4868 §2.3 (HMAC-SHA-512-256: 32-byte ICV)",
    ),
    EspTransform(
        name="3des-sha1",
        label="3DES-CBC + HMAC-SHA1-96",
        iv=8,
        block=8,
        icv=12,
        reference="RFC 2451 §2, §3 (3DES-CBC: 8-byte blocks and IV); RFC 2404 §2",
    ),
    *(
        EspTransform(
            name=f"aes-gcm-{icv}",
            label=f"AES-GCM, {icv}-byte ICV",
            iv=8,
            block=4,
            icv=icv,
            reference="RFC 4106 §3.1 (8-byte IV), §6 (ICV 8, 12 or 16 bytes), "
            "RFC 4303 §2.4 (4-byte alignment)",
        )
        for icv in (8, 12, 16)
    ),
    EspTransform(
        name="chacha20-poly1305",
        label="ChaCha20-Poly1305",
        iv=8,
        block=4,
        icv=16,
        reference="RFC 7634 §2 (8-byte IV, 16-byte tag; padding only for 4-byte alignment)",
    ),
)

ESP_TRANSFORMS: dict[str, EspTransform] = {t.name: t for t in _ESP_TRANSFORMS}
"""Canonical transform name -> transform."""

ESP_ALIASES: dict[str, str] = {
    "aes-cbc": "aes-cbc-sha1",
    "aes-sha1": "aes-cbc-sha1",
    "aes128-sha1": "aes-cbc-sha1",
    "aes256-sha1": "aes-cbc-sha1",
    "aes-sha256": "aes-cbc-sha256",
    "aes128-sha256": "aes-cbc-sha256",
    "aes256-sha256": "aes-cbc-sha256",
    "aes-gcm": "aes-gcm-16",
    # Key lengths do not change the packet layout; RFC 4106 GCM with the usual
    # 16-byte ICV. strongSwan spells them "aes128gcm16" and so on.
    "aes-gcm-128": "aes-gcm-16",
    "aes-gcm-192": "aes-gcm-16",
    "aes-gcm-256": "aes-gcm-16",
    **{f"aes{k}gcm{icv}": f"aes-gcm-{icv}" for k in (128, 192, 256) for icv in (8, 12, 16)},
    "chacha20poly1305": "chacha20-poly1305",
}
"""Other spellings people type, mapped to a canonical name."""

DEFAULT_ESP = "aes-gcm-16"
"""Used when an IPsec layer names no transform: the common modern choice."""

AH_BASE = 12
"""RFC 4302 §2: next header, payload length, reserved, SPI, sequence number = 12 bytes."""

AH_ICV: dict[str, int] = {"sha1": 12, "sha256": 16, "sha384": 24, "sha512": 32}
"""AH integrity check value per algorithm: RFC 2404 §2 (SHA1-96), RFC 4868 §2.3."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenVpnCipher:
    """An OpenVPN data-channel cipher setting (UDP transport)."""

    name: str
    aead: bool
    """AEAD ciphers (GCM, ChaCha20-Poly1305) add a fixed tag and need no padding."""
    iv: int
    block: int


OPENVPN_CIPHERS: dict[str, OpenVpnCipher] = {
    c.name: c
    for c in (
        OpenVpnCipher(name="aes-128-gcm", aead=True, iv=0, block=1),
        OpenVpnCipher(name="aes-256-gcm", aead=True, iv=0, block=1),
        OpenVpnCipher(name="chacha20-poly1305", aead=True, iv=0, block=1),
        OpenVpnCipher(name="aes-128-cbc", aead=False, iv=16, block=16),
        OpenVpnCipher(name="aes-256-cbc", aead=False, iv=16, block=16),
    )
}
"""OpenVPN 2.4+ data channel. AEAD packet: opcode/peer-id, 4-byte packet ID, 16-byte
tag, then ciphertext (the packet ID doubles as the implicit IV); CBC packet: HMAC,
IV, then CBC ciphertext of packet ID + payload with PKCS#7 padding (at least one
byte). Source: OpenVPN "Data channel crypto" in the security overview
(openvpn.net/community-resources/openvpn-cryptographic-layer) and
src/openvpn/crypto.h of OpenVPN 2.6."""

OPENVPN_HMAC: dict[str, int] = {"sha1": 20, "sha256": 32, "sha512": 64}
"""Full-length HMAC OpenVPN appends with `--auth` on CBC ciphers (no truncation)."""

OPENVPN_PACKET_ID = 4
OPENVPN_AEAD_TAG = 16
OPENVPN_OPCODE_V1 = 1
"""P_DATA_V1: one byte of opcode and key id."""
OPENVPN_OPCODE_V2 = 4
"""P_DATA_V2 (default since 2.4 with a 2.4+ server): opcode/key id + 3-byte peer id."""


def esp_transform(name: str) -> EspTransform | None:
    """The ESP transform called `name` (any known spelling), or None."""
    key = name.lower()
    return ESP_TRANSFORMS.get(ESP_ALIASES.get(key, key))
