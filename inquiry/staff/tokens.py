"""Bearer tokens: random, shown once, kept only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "inqs_"
_SHOWN_PREFIX = 12  # "inqs_" and 7 random characters: enough to tell tokens apart in a list


def mint() -> str:
    """A new token (256 bits of randomness)."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:_SHOWN_PREFIX]


def bearer(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer …' header, if it looks like one of ours."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    return token
