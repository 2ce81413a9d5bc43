"""The thank-you page's receipt: the reference only, with what the page must know kept unseen.

The receipt travels in the thank-you URL, so it lands in browser history and in proxy and
analytics logs. It shows only the reference, which the visitor already has. Whether the page
leads with crisis resources, and in which language, decides which key signs it: the page
finds out by checking the four keys, and no reader of the URL can.
"""

from __future__ import annotations

from dataclasses import dataclass

from inquiry.signing import Signer
from inquiry.web.i18n import Language

MAX_AGE_SECONDS = 24 * 3600
_LANGUAGES: tuple[Language, ...] = ("en", "fr")


@dataclass(frozen=True, slots=True)
class Receipt:
    reference: str
    language: Language
    crisis: bool


class Receipts:
    """Issues and reads signed, expiring, opaque receipts."""

    def __init__(self, secret: str) -> None:
        self._signers = {
            (language, crisis): Signer(secret, f"receipt:{language}:{int(crisis)}")
            for language in _LANGUAGES
            for crisis in (False, True)
        }

    def issue(self, reference: str, language: Language, crisis: bool) -> str:
        return self._signers[(language, crisis)].sign(reference)

    def read(self, token: str, *, now: float | None = None) -> Receipt | None:
        """The receipt if one of our keys signed it within its lifetime, else None."""
        for (language, crisis), signer in self._signers.items():
            reference = signer.unsign(token, max_age=MAX_AGE_SECONDS, now=now)
            if reference is not None:
                return Receipt(reference, language, crisis)
        return None
