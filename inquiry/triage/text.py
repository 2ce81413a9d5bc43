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
# Written to start at the apostrophe, which the regex engine finds quickly.
_ELISION = re.compile(r"'(?:(?<=(?<![a-z])[cdjlmnst]')|(?<=(?<![a-z])qu'))(?=[a-z])")


def _space_after(match: re.Match[str]) -> str:
    return match.group() + " "


def _fold_accents(lowered: str) -> str:
    """Remove accents and turn other non-ASCII symbols into spaces."""
    decomposed = unicodedata.normalize("NFKD", lowered.translate(_TRANSLATE))
    # Other symbols (dashes, emoji, non-breaking spaces) separate words like a space.
    return _NON_ASCII.sub(" ", _COMBINING.sub("", decomposed))


# The same folding worked out once per character for the scripts visitors actually type:
# str.translate and NFKD over a whole message cost far more than replacing a few letters.
# Per character is the same as per message because spaces are collapsed at the end.
_COMMON = {
    char: _fold_accents(char)
    for char in map(chr, [*range(0x80, 0x250), *range(0x2000, 0x2070), *range(0x20A0, 0x20C1)])
}


def _fold_non_ascii(lowered: str) -> str:
    chars = set("".join(_NON_ASCII.findall(lowered)))
    if not chars <= _COMMON.keys():
        return _fold_accents(lowered)
    # Each replacement is ASCII, so the order of replacing does not matter.
    for char in chars:
        lowered = lowered.replace(char, _COMMON[char])
    return lowered


def fold(text: str) -> str:
    """Return text in lower case, without accents, with straight quotes and single spaces."""
    folded = text.lower()
    if not folded.isascii():
        # Rules are written without accents so "idées noires" and "idees noires" match alike.
        folded = _fold_non_ascii(folded)
    folded = _GLUED.sub(_space_after, folded)
    if "'" in folded:
        folded = _ELISION.sub("' ", folded)
    # One space between words lets rule authors write plain phrases ("end my life").
    return " ".join(folded.split())
