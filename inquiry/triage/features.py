"""The n-gram features the learned model reads, the same at training and at run time.

Words, word pairs and the 4-letter pieces of each word (with its edges) of the
normalised text: letter pieces are what let the model read a typo or a texting form like the
word it stands for. Apostrophes are dropped ("don't" and "dont" are one word). Every digit
reads as "#": a dose, a count, a time or a phone number counts by its number of digits, not its
value, so "took 30 pills" and "took 45 pills" share their features, and the model keeps no
particular visitor's numbers.
"""

from functools import lru_cache


def _separator(code: int) -> int:
    """What byte `code` becomes: letters and apostrophes stay, a digit is "#", the rest a space."""
    char = chr(code)
    if not char.isascii():
        return 32
    if char.isdigit():
        return ord("#")
    return code if char.isalpha() or char == "'" else 32


_SEPARATE = bytes(map(_separator, range(256)))
_LETTER_SIZES = (4,)


def words(text: str) -> list[str]:
    """The words of normalised (folded, ASCII) text, apostrophes removed."""
    raw = text.encode("ascii", "replace").translate(_SEPARATE, b"'")
    return raw.decode("ascii").split()


@lru_cache(maxsize=1 << 16)
def pieces(token: str) -> frozenset[str]:
    """The word itself and its letter pieces: worked out once per distinct word."""
    padded = f"<{token}>"
    length = len(padded)
    found = {"w " + token}
    for size in _LETTER_SIZES:
        found.update(padded[i : i + size] for i in range(length - size + 1))
    return frozenset(found)


def pairs(tokens: list[str]) -> set[str]:
    """The features of the word pairs."""
    return {f"b {a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}


def ngrams(text: str) -> set[str]:
    """Return the feature names of normalised text."""
    tokens = words(text)
    found = pairs(tokens)
    found.update(*map(pieces, set(tokens)))
    return found
