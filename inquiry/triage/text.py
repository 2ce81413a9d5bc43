"""Fold inquiry text into the one form every triage pattern is written against."""

import re
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
        "´": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
    }
)
# A word glued to punctuation ("help.i want", "(19)") gets a space in front, so every word
# starts after a space: patterns then begin with a literal space, which the regex engine
# scans for quickly. Apostrophes, hyphens, $, %, # and : stay attached ("don't", "e-mail").
_GLUED = re.compile(r"[^a-z0-9\s'$%#:+@-](?=[a-z0-9])")
_COMBINING = re.compile("[\u0300-\u036f]+")
_NON_ASCII = re.compile("[^\x00-\x7f]+")
# French elision ("d'idées", "j'ai") becomes "d' idees" so the word after it starts a word.
_ELISION = re.compile(r"(?<![a-z])([cdjlmnst]|qu)'(?=[a-z])")


def _space_after(match: re.Match[str]) -> str:
    return match.group() + " "


def fold(text: str) -> str:
    """Return text in lower case, without accents, with straight quotes and single spaces."""
    folded = text.lower()
    if not folded.isascii():
        # Rules are written without accents so "idées noires" and "idees noires" match alike.
        decomposed = unicodedata.normalize("NFKD", folded.translate(_TRANSLATE))
        # Other symbols (dashes, emoji, non-breaking spaces) separate words like a space.
        folded = _NON_ASCII.sub(" ", _COMBINING.sub("", decomposed))
    folded = _GLUED.sub(_space_after, folded)
    if "'" in folded:
        folded = _ELISION.sub(r"\1' ", folded)
    # One space between words lets rule authors write plain phrases ("end my life").
    return " ".join(folded.split())
