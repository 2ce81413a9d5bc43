"""The model's packed weight sum over a text's features, with rows looked up once per word.

A fast path of features.ngrams() followed by PackedTable.sums(). A text's features are its
word pairs, and for each distinct word the word and its letter pieces (features.py); the
model adds the packed row of each distinct feature (packed.py). Building the ~270 feature names
of a 300-character inquiry and looking each up in the model's table of ~16,000 rows takes
62-75 us with the softmax. Here each word's features and their rows are looked up once and kept
(for up to _WORDS words), so a text costs one dict merge per distinct word, and each word pair
is looked up as the pair of words, without building its name: 46-52 us for the same work,
measured in the same runs.

A feature without a weight gets the packed row of zeros, so the number of distinct features
(the model's scale) is the length of the merged dict plus the number of distinct pairs, and
the rows add up to the packed sums without counting the rows found. The pairs can be counted
apart because no other feature's name has two spaces in it. tests/triage/test_triage_scan.py
checks that the count and the probabilities are exactly those of the plain path.
"""

from collections.abc import Iterable
from functools import lru_cache
from itertools import repeat

from inquiry.triage.features import pieces
from inquiry.triage.packed import PackedTable

# Distinct words kept, each with its handful of features: the vocabulary of the inquiries
# a clinic receives fits many times over.
_WORDS = 1 << 14
_PAIR = "b "


class WordRows:
    """A model table's rows by word and by pair of words."""

    __slots__ = ("_pairs", "_rows", "_zero", "of_word")

    def __init__(self, table: PackedTable) -> None:
        self._rows = table.rows
        self._zero = table.zero
        # "b first second" (features.pairs) by (first, second).
        self._pairs = {
            (first, second): row
            for feature, row in table.rows.items()
            if feature.startswith(_PAIR) and feature.count(" ") == 2
            for first, second in [feature[len(_PAIR) :].split(" ")]
        }
        self.of_word = lru_cache(maxsize=_WORDS)(self._look_up)

    def _look_up(self, word: str) -> dict[str, int]:
        rows, zero = self._rows, self._zero
        return {feature: rows.get(feature, zero) for feature in pieces(word)}

    def total(self, words: list[str], signals: Iterable[str]) -> tuple[int, int]:
        """Return the sum of the packed rows of ngrams() over the words and of the signals,
        and the number of those features (each distinct one counted once)."""
        rows, zero = self._rows, self._zero
        found = {signal: rows.get(signal, zero) for signal in signals}
        for word_rows in map(self.of_word, set(words)):
            found.update(word_rows)
        pairs = set(zip(words, words[1:], strict=False))
        total = sum(found.values()) + sum(map(self._pairs.get, pairs, repeat(zero)))
        return total, len(found) + len(pairs)
