"""Bearer tokens: made from the OS's random source, stored only as their SHA-256.

Layer: server/. A token is shown once (agent creation, the first start of the
server) and never logged; the store keeps its hash, and a request's token is
hashed and looked up, so a stolen database holds no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
"""Random bytes per token (43 URL-safe characters)."""


def new_token() -> tuple[str, str]:
    """A fresh token and its hash."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a, b)
