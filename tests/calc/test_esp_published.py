"""ESP tunnel overheads pinned by hand from the RFCs, independent of `calc.ciphers`.

Each number below was worked out by hand, not by the code under test and not from the
cipher table (issue 11, "tests that can fail"): a change to an IV, block or ICV size in
`calc/ciphers.py`, or to the padding arithmetic in `calc/layers.py`, fails here.

ESP tunnel mode over IPv4 (RFC 4303 §2): outer IPv4 header 20, SPI 4 + sequence number 4,
the IV, then the ciphertext (inner packet + padding + pad length 1 + next header 1), padded
to the cipher's block (RFC 4303 §2.4: at least 4-byte alignment), then the ICV. NAT-T adds
a UDP header of 8 (RFC 3948 §2.1). The inner IP MTU is therefore

    floor((link - 20 - natt - 8 - IV - ICV) / block) * block - 2

Sizes, as the RFCs give them:
- AES-CBC (RFC 3602 §3): IV 16, block 16; HMAC-SHA1-96 ICV 12 (RFC 2404 §2);
  HMAC-SHA-256-128 16, -384-192 24, -512-256 32 (RFC 4868 §2.3).
- 3DES-CBC (RFC 2451 §3): IV 8, block 8.
- AES-GCM (RFC 4106 §3.1, §6): IV 8, ICV 8, 12 or 16, 4-byte alignment.
- ChaCha20-Poly1305 (RFC 7634 §2): IV 8, tag 16, 4-byte alignment.

Worked example, AES-CBC + SHA1 on 1500: 1500 - 20 - 8 - 16 - 12 = 1444 -> 1440 (90 blocks)
-> 1438 (Cisco's commonly quoted "ip mtu 1438"); with NAT-T 1436 -> 1424 -> 1422.
AES-GCM-16 on 1500: 1500 - 20 - 8 - 8 - 16 = 1448 (already 4-aligned) -> 1446; 54 bytes.
"""

from __future__ import annotations

import pytest

from mtuscope.calc import ciphers
from mtuscope.calc.stack import compute, parse_layers

LINKS = (1400, 1500, 1504, 9000)

# transform -> {link MTU: (inner IP MTU without NAT-T, with NAT-T)}
EXPECTED: dict[str, dict[int, tuple[int, int]]] = {
    # 1400-20-8-16-12=1344 -> 1344 (84 blocks) -> 1342; NAT-T 1336 -> 1328 -> 1326
    "aes-cbc-sha1": {1400: (1342, 1326), 1500: (1438, 1422), 1504: (1438, 1438),
                     9000: (8942, 8926)},
    # 1500-20-8-16-16=1440 -> 1438; NAT-T 1432 -> 1424 -> 1422
    "aes-cbc-sha256": {1400: (1326, 1326), 1500: (1438, 1422), 1504: (1438, 1422),
                       9000: (8926, 8926)},
    # 1500-20-8-16-24=1432 -> 1424 -> 1422; NAT-T 1424 -> 1422
    "aes-cbc-sha384": {1400: (1326, 1310), 1500: (1422, 1422), 1504: (1422, 1422),
                       9000: (8926, 8910)},
    # 1500-20-8-16-32=1424 -> 1422; NAT-T 1416 -> 1408 -> 1406
    "aes-cbc-sha512": {1400: (1310, 1310), 1500: (1422, 1406), 1504: (1422, 1406),
                       9000: (8910, 8910)},
    # 1500-20-8-8-12=1452 -> 1448 (181 blocks of 8) -> 1446; 1504: 1456 -> 1454
    "3des-sha1": {1400: (1350, 1342), 1500: (1446, 1438), 1504: (1454, 1446),
                  9000: (8950, 8942)},
    # 1500-20-8-8-8=1456 -> 1454; 1504: 1460 -> 1458
    "aes-gcm-8": {1400: (1354, 1346), 1500: (1454, 1446), 1504: (1458, 1450),
                  9000: (8954, 8946)},
    # 1500-20-8-8-12=1452 -> 1450
    "aes-gcm-12": {1400: (1350, 1342), 1500: (1450, 1442), 1504: (1454, 1446),
                   9000: (8950, 8942)},
    # 1500-20-8-8-16=1448 -> 1446; 9000: 8948 -> 8946
    "aes-gcm-16": {1400: (1346, 1338), 1500: (1446, 1438), 1504: (1450, 1442),
                   9000: (8946, 8938)},
    # the same sizes as AES-GCM-16: IV 8, tag 16
    "chacha20-poly1305": {1400: (1346, 1338), 1500: (1446, 1438), 1504: (1450, 1442),
                          9000: (8946, 8938)},
}  # fmt: skip


def test_every_transform_is_pinned() -> None:
    assert set(EXPECTED) == set(ciphers.ESP_TRANSFORMS)
    assert all(set(v) == set(LINKS) for v in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("link", LINKS)
def test_esp_tunnel_overhead_matches_the_rfc_arithmetic(name: str, link: int) -> None:
    plain, natt = EXPECTED[name][link]
    got = compute(link, parse_layers([f"ipsec-tunnel:{name}"]))
    assert got.ip_mtu == plain
    assert got.overhead == link - plain
    assert got.mss_ipv4 == plain - 40 and got.mss_ipv6 == plain - 60
    assert compute(link, parse_layers([f"ipsec-tunnel:{name}:natt"])).ip_mtu == natt
