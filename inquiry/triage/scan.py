"""Find every category's term matches with one pass over the text instead of one per category.

Each category (crisis, each topic, spam) keeps its own regex, and what it matches must not
change: finditer semantics, the first alternative that matches at a place wins. A category
regex costs about as much per word as it has branching levels to try, so running seven of
them over every word dominated triage. Instead one merged regex (the union of all categories,
in whatever order) finds the few word starts where some term matches; there, only categories
whose terms can begin with the next few letters are asked, with match() at that place.
A category is not asked inside its own previous match, exactly as finditer would skip it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from inquiry.triage.patterns import heads, merge

# Letters of the word read to decide which categories to ask at a candidate place.
_KEY_LENGTH = 4


@dataclass(frozen=True, slots=True)
class Scanner:
    """Candidate finder and dispatch table over the compiled category regexes."""

    candidates: re.Pattern[str]
    categories: tuple[re.Pattern[str], ...]
    by_key: dict[str, tuple[int, ...]]
    by_short_key: dict[str, frozenset[int]]

    def find(self, text: str) -> list[tuple[int, re.Match[str]]]:
        """Return (category, match) for each match category.finditer(text) would yield."""
        found: list[tuple[int, re.Match[str]]] = []
        ends = [0] * len(self.categories)
        for candidate in self.candidates.finditer(text):
            start = candidate.start()
            key = text[start + 1 : start + 1 + _KEY_LENGTH]
            asked = self.by_key.get(key)
            if asked is None:
                asked = self._short(key)
            for category in asked:
                if start >= ends[category]:
                    match = self.categories[category].match(text, start)
                    if match is not None:
                        ends[category] = match.end()
                        found.append((category, match))
        return found

    def _short(self, key: str) -> tuple[int, ...]:
        asked: set[int] = set()
        for length in range(min(len(key), _KEY_LENGTH - 1) + 1):
            asked |= self.by_short_key.get(key[:length], frozenset())
        return tuple(sorted(asked))


def build_scanner(
    bodies: Sequence[Sequence[str]], categories: Sequence[re.Pattern[str]], before: str, after: str
) -> Scanner:
    """Build the scanner; bodies[i] are the alternations category i is built from.

    Each category regex must be before + (a choice among its bodies) + after, where before is
    one literal character: that is what makes the merged union and the key table exact.
    """
    long: dict[str, set[int]] = {}
    short: dict[str, set[int]] = {}
    for category, alternations in enumerate(bodies):
        for alternation in alternations:
            for head in heads(alternation, _KEY_LENGTH):
                table = long if len(head) == _KEY_LENGTH else short
                table.setdefault(head, set()).add(category)
    by_key: dict[str, tuple[int, ...]] = {}
    for key, asked in long.items():
        for length in range(_KEY_LENGTH):
            asked |= short.get(key[:length], set())
        by_key[key] = tuple(sorted(asked))
    union = merge([alternation for alternations in bodies for alternation in alternations])
    return Scanner(
        candidates=re.compile(f"{before}(?=(?:{union}){after})"),
        categories=tuple(categories),
        by_key=by_key,
        by_short_key={key: frozenset(asked) for key, asked in short.items()},
    )
