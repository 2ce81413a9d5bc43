"""Small signed tokens (HMAC-SHA256) for one-time form tokens and thank-you receipts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class Signer:
    """Signs short ASCII payloads with the service's secret key and a purpose."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, payload: str, *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        body = f"{payload}.{issued:x}"
        return f"{body}.{self._mac(body)}"

    def unsign(self, token: str, *, max_age: float, now: float | None = None) -> str | None:
        """Return the payload if the token is ours and younger than max_age, else None."""
        body, _, mac = token.rpartition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            return None
        payload, _, issued_hex = body.rpartition(".")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return None
        current = now if now is not None else time.time()
        if not 0 <= current - issued <= max_age:
            return None
        return payload
