"""Find every category's term matches with one pass over the text instead of one per category.

Each category (a topic, spam, a risk concept, a context rule) keeps its own regex, and what it
matches must not change: finditer semantics, the first alternative that matches at a place
wins. A category regex costs about as much per word as it has branching levels to try, so
running each one over every word dominated triage. Instead one regex of the literal texts the
terms begin with finds the word starts where some term may match; there, only categories whose
terms can begin with the next few letters are asked, with match() at that place. A category is
not asked inside its own previous match, exactly as finditer would skip it.

A term that can begin with any word ("[a-z]+(?:pam|zole) (?:saved|hidden)") would make every
word a candidate. Such a term finds its candidates with its own regex instead, and is left out
altogether when the message lacks every text its matches must contain ("pam saved", "zole
hidden", ...), which one search tells: a term like that costs as much as all the others.

Two readings of the categories are offered. find() runs each category on its own (topics, spam,
context rules). find_first() reads them as one regex whose alternatives are the categories in
order (the risk concepts): there a place belongs to the first category that matches at it, and
the scan resumes after that match, skipping even other categories' matches inside it.

Over the benchmark's 300-character inquiries (tests/bench/triage_bench.py): the concepts in
50 us where one regex of them all takes 260 us; the context rules, on texts that mention a
concept, in 45 us where one finditer per rule takes 270 us.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inquiry.triage.patterns import heads, needles

# Letters of the word read to decide which categories to ask at a candidate place.
_KEY_LENGTH = 6
_MEMO = 10_000
# Letters of the word the candidate regex reads: more letters, fewer places asked in vain.
_CANDIDATE_LENGTH = 6
# A term whose matches may begin with fewer known letters than this starts at almost any word.
_OPEN_HEAD = 2


@dataclass(frozen=True, slots=True)
class Dispatch:
    """The candidate places and, by the letters after one, the categories to ask there."""

    candidates: re.Pattern[str]
    by_key: dict[str, tuple[int, ...]]
    by_short_key: dict[str, frozenset[int]]

    # Answers for keys that begin no term's head, worked out once each (up to _MEMO of them).
    memo: dict[str, tuple[int, ...]]

    def asked(self, key: str) -> tuple[int, ...]:
        """The categories, in order, whose terms can begin with key (or a shorter text)."""
        asked = self.by_key.get(key) or self.memo.get(key)
        if asked is None:
            found: set[int] = set()
            for length in range(min(len(key), _KEY_LENGTH - 1) + 1):
                found |= self.by_short_key.get(key[:length], frozenset())
            asked = tuple(sorted(found))
            if len(self.memo) < _MEMO:
                self.memo[key] = asked
        return asked


@dataclass(frozen=True, slots=True)
class Scanner:
    """Dispatch tables over the compiled category regexes."""

    categories: tuple[re.Pattern[str], ...]
    # Every term; and without the terms that may start at any word, for a text without
    # anything the guard finds.
    everywhere: Dispatch
    narrow: Dispatch
    guard: re.Pattern[str] | None

    def _dispatch(self, text: str) -> Dispatch:
        if self.guard is None or self.guard.search(text) is None:
            return self.narrow
        return self.everywhere

    def find(self, text: str) -> list[tuple[int, re.Match[str]]]:
        """Return (category, match) for each match category.finditer(text) would yield."""
        dispatch = self._dispatch(text)
        by_key = dispatch.by_key
        categories = self.categories
        found: list[tuple[int, re.Match[str]]] = []
        ends = [0] * len(categories)
        for candidate in dispatch.candidates.finditer(text):
            start = candidate.start()
            key = text[start + 1 : start + 1 + _KEY_LENGTH]
            for category in by_key.get(key) or dispatch.asked(key):
                if start >= ends[category]:
                    match = categories[category].match(text, start)
                    if match is not None:
                        ends[category] = match.end()
                        found.append((category, match))
        return found

    def find_first(self, text: str) -> list[tuple[int, re.Match[str]]]:
        """Return (category, match) for each match finditer would yield with one regex
        before + (?:body0|body1|...) + after, the categories' bodies in order.

        The same matches, because: (1) at a place, that regex tries body0 in every way it can
        match followed by after, then body1, and so on, which is what category 0's regex, then
        category 1's, try there; the first category that matches gives the same match.
        (2) finditer takes the leftmost place at or after the end of its previous match (never
        empty: before is one character); the candidates hold every place where some category
        matches, the dispatch table only leaves out categories that cannot match there, and
        the ones it asks come in category order.
        """
        dispatch = self._dispatch(text)
        by_key = dispatch.by_key
        categories = self.categories
        found: list[tuple[int, re.Match[str]]] = []
        resume = 0
        for candidate in dispatch.candidates.finditer(text):
            start = candidate.start()
            if start < resume:
                continue
            key = text[start + 1 : start + 1 + _KEY_LENGTH]
            for category in by_key.get(key) or dispatch.asked(key):
                match = categories[category].match(text, start)
                if match is not None:
                    resume = match.end()
                    found.append((category, match))
                    break
        return found


def _build_dispatch(
    terms: list[tuple[int, str, set[str]]], before: str, open_terms: list[str]
) -> Dispatch:
    """Build the tables from (category, term, heads of the term); the open terms are found by
    their own regex, the others by the literal texts they begin with."""
    long: dict[str, set[int]] = {}
    short: dict[str, set[int]] = {}
    starts: set[str] = set()
    for category, term, term_heads in terms:
        if term not in open_terms:
            starts |= term_heads
        for head in term_heads:
            key = head[:_KEY_LENGTH]
            table = long if len(key) == _KEY_LENGTH else short
            table.setdefault(key, set()).add(category)
    by_key: dict[str, tuple[int, ...]] = {}
    for key, asked in long.items():
        for length in range(_KEY_LENGTH):
            asked |= short.get(key[:length], set())
        by_key[key] = tuple(sorted(asked))
    # Literal texts: the regex engine tries them fast at every word start.
    union = "|".join([_prefixes(starts)] + [f"(?:{term})" for term in open_terms])
    return Dispatch(
        candidates=re.compile(f"{re.escape(before)}(?={union})"),
        by_key=by_key,
        by_short_key={key: frozenset(asked) for key, asked in short.items()},
        memo={},
    )


def _prefixes(texts: set[str]) -> str:
    """A regex matching the start of any text that begins with one of texts."""
    trie: dict[str, dict[str, Any]] = {}
    for text in texts:
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branches(trie) if texts else "(?!)"


def _branches(node: dict[str, dict[str, Any]]) -> str:
    if "" in node:
        # A text ends here: whatever follows, the place is a candidate.
        return ""
    parts = [re.escape(char) + _branches(child) for char, child in node.items()]
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _is_open(term_heads: set[str]) -> bool:
    """Whether the term may begin at almost any word (a number is rare enough)."""
    return any(len(head) < _OPEN_HEAD and not head.isdigit() for head in term_heads)


def build_scanner(
    terms: Sequence[Sequence[str]], categories: Sequence[re.Pattern[str]], before: str
) -> Scanner:
    """Build the scanner; any of terms[i] matches exactly the texts category i's body matches.

    Each category regex must be before + (its body) + (anything), where before is one literal
    character: that is what makes the heads of the terms, read after it, a complete list.
    """
    every = [
        (category, term, heads(term, _CANDIDATE_LENGTH))
        for category, regexes in enumerate(terms)
        for term in regexes
    ]
    open_terms = [term for _, term, term_heads in every if _is_open(term_heads)]
    everywhere = _build_dispatch(every, before, open_terms)
    guarded = [needles(term) for term in open_terms]
    if not open_terms or None in guarded:
        return Scanner(tuple(categories), everywhere, everywhere, None)
    closed = [item for item in every if item[1] not in open_terms]
    return Scanner(
        categories=tuple(categories),
        everywhere=everywhere,
        narrow=_build_dispatch(closed, before, []),
        # A search for texts is a search for the start of any of them.
        guard=re.compile(_prefixes(set().union(*guarded))),  # type: ignore[arg-type]
    )
