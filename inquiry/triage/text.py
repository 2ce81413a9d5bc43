"""Fold inquiry text into the one form every triage pattern is written against."""

import unicodedata

# Letters NFKD does not decompose, and typographic quotes visitors paste from phones and Word.
_TRANSLATE = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ß": "ss",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        "`": "'",
        "´": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
    }
)


def fold(text: str) -> str:
    """Return text in lower case, without accents, with straight quotes and single spaces."""
    lowered = text.lower()
    if not lowered.isascii():
        # Rules are written without accents so "idées noires" and "idees noires" match alike.
        decomposed = unicodedata.normalize("NFKD", lowered.translate(_TRANSLATE))
        lowered = decomposed.encode("ascii", "ignore").decode("ascii")
    # One space between words lets rule authors write plain phrases ("end my life").
    return " ".join(lowered.split())
