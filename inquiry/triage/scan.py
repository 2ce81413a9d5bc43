"""Find every category's term matches by asking each category only where its terms can begin.

Each category (a risk concept, a topic, spam, a context rule) keeps its own regex, and what it
matches must not change: finditer semantics, the first alternative that matches at a place
wins. A category regex costs about as much per word as it has branching levels to try, so
running each one over every word dominated triage. Instead one pass over the text, shared by
the concepts, the topics and the context rules, finds the word starts where some term may
match: a regex of the literal texts the terms begin with (their heads, up to _HEAD_LENGTH
letters) captures the longest head there, and a table gives, for that head, the categories of
each scanner whose terms can begin with it. Only those are asked, with match() at that place.
A category is not asked inside its own previous match, exactly as finditer would skip it.

A term that can begin with any word ("[a-z]+(?:pam|zole) (?:saved|hidden)") would make every
word a candidate. Such a term finds its places with its own regex instead, and only when the
message holds one of the texts its matches must contain ("pam saved", "zole hidden", ...),
which one search tells: a term like that costs as much as all the others.

Two readings of the categories are offered. find() runs each category on its own (topics, spam,
context rules). find_first() reads them as one regex whose alternatives are the categories in
order (the risk concepts): there a place belongs to the first category that matches at it, and
the scan resumes after that match, skipping even other categories' matches inside it.

Over the benchmark's 300-character inquiries (tests/bench/triage_bench.py) the shared pass
takes 28 us (its regex 10, the guards of the terms that may begin at any word 5). Then asking
the concepts takes 8 us where one regex of them all takes 155 us, the context rules 10 us where
a finditer per rule takes 130 us, the topics and spam 6 us where a finditer per category takes
47 us. Heads of up to 8 letters ask 48 categories a text where heads of 6 ask 68, most of them
in vain; with the mentions' context worked out, the scans take 64 us where a candidate regex
per scanner, with heads of 6 letters, takes 81 us.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inquiry.triage.patterns import heads, needles

# Letters of a term's start read into its heads: more letters, fewer categories asked in vain.
_HEAD_LENGTH = 8
# A term whose heads multiply past this (character classes) keeps shorter heads, down to
# _SHORT_HEAD letters: the table and the regex of heads stay small, and start-up quick.
_MAX_HEADS = 64
_SHORT_HEAD = 6
# A term whose matches may begin with fewer known letters than this starts at almost any word.
_OPEN_HEAD = 2

# The places to ask one scanner: (start, the categories whose terms can begin there, in order).
Places = list[tuple[int, tuple[int, ...]]]


@dataclass(frozen=True, slots=True)
class Scanner:
    """Category regexes, each before + (its body) + (anything), asked at the given places."""

    categories: tuple[re.Pattern[str], ...]

    def find(self, text: str, places: Places) -> list[tuple[int, re.Match[str]]]:
        """Return (category, match) for each match category.finditer(text) would yield."""
        categories = self.categories
        found: list[tuple[int, re.Match[str]]] = []
        ends = [0] * len(categories)
        for start, asked in places:
            for category in asked:
                if start >= ends[category]:
                    match = categories[category].match(text, start)
                    if match is not None:
                        ends[category] = match.end()
                        found.append((category, match))
        return found

    def find_first(self, text: str, places: Places) -> list[tuple[int, re.Match[str]]]:
        """Return (category, match) for each match finditer would yield with one regex
        before + (?:body0|body1|...) + after, the categories' bodies in order.

        The same matches, because: (1) at a place, that regex tries body0 in every way it can
        match followed by after, then body1, and so on, which is what category 0's regex, then
        category 1's, try there; the first category that matches gives the same match.
        (2) finditer takes the leftmost place at or after the end of its previous match (never
        empty: before is one character); the places hold every place where some category
        matches, with every category that can match there, in category order.
        """
        categories = self.categories
        found: list[tuple[int, re.Match[str]]] = []
        resume = 0
        for start, asked in places:
            if start < resume:
                continue
            for category in asked:
                match = categories[category].match(text, start)
                if match is not None:
                    resume = match.end()
                    found.append((category, match))
                    break
        return found


@dataclass(frozen=True, slots=True)
class OpenTerms:
    """One category's terms that may begin at any word, found by their own regex."""

    scanner: int
    category: int
    # Texts one of which every match contains (None: unknown, so always look).
    guard: re.Pattern[str] | None
    places: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Candidates:
    """One pass over a text giving each scanner the places to ask it."""

    scanners: int
    # before, then the longest head of any term that the text continues with, captured.
    heads: re.Pattern[str]
    # For each head: (scanner, categories to ask) for every scanner with a term it can begin.
    asked: dict[str, tuple[tuple[int, tuple[int, ...]], ...]]
    open_terms: tuple[OpenTerms, ...]

    def find(self, text: str) -> list[Places]:
        """Return, for each scanner in order, its places in the text."""
        places: list[Places] = [[] for _ in range(self.scanners)]
        asked = self.asked
        for candidate in self.heads.finditer(text):
            start = candidate.start()
            for scanner, categories in asked[candidate.group(1)]:
                places[scanner].append((start, categories))
        for open_terms in self.open_terms:
            if open_terms.guard is None or open_terms.guard.search(text) is not None:
                found = [match.start() for match in open_terms.places.finditer(text)]
                if found:
                    scanner = open_terms.scanner
                    places[scanner] = _merge(places[scanner], found, open_terms.category)
        return places


def _merge(places: Places, starts: list[int], category: int) -> Places:
    """Add category to the places at starts, keeping places and categories in order."""
    asked = dict(places)
    for start in starts:
        asked[start] = tuple(sorted({*asked.get(start, ()), category}))
    return sorted(asked.items())


def _term_heads(term: str) -> set[str]:
    """The heads of a term, shortened where there are too many to list."""
    found = heads(term, _HEAD_LENGTH)
    length = _HEAD_LENGTH
    while len(found) > _MAX_HEADS and length > _SHORT_HEAD:
        length -= 1
        found = {head[:length] for head in found}
    return found


def _is_open(term_heads: set[str]) -> bool:
    """Whether the term may begin at almost any word (a number is rare enough)."""
    return any(len(head) < _OPEN_HEAD and not head.isdigit() for head in term_heads)


def build_candidates(scanners: Sequence[Sequence[Sequence[str]]], before: str) -> Candidates:
    """Build the shared pass; scanners[s][c] are terms matching exactly the texts that category
    c of scanner s matches with its body.

    Each category regex must be before + (its body) + (anything), where before is one literal
    character: that is what makes the heads of the terms, read after it, a complete list.
    """
    by_head: dict[str, set[tuple[int, int]]] = {}
    open_by_category: dict[tuple[int, int], list[str]] = {}
    for scanner, categories in enumerate(scanners):
        for category, terms in enumerate(categories):
            for term in terms:
                term_heads = _term_heads(term)
                if _is_open(term_heads):
                    open_by_category.setdefault((scanner, category), []).append(term)
                    continue
                for head in term_heads:
                    by_head.setdefault(head, set()).add((scanner, category))
    asked: dict[str, tuple[tuple[int, tuple[int, ...]], ...]] = {}
    for head in by_head:
        # Every head the text continues with is a start of the longest one the regex captures.
        pairs = set().union(*(by_head.get(head[:length], ()) for length in range(len(head) + 1)))
        asked[head] = tuple(
            (scanner, tuple(sorted(category for s, category in pairs if s == scanner)))
            for scanner in sorted({scanner for scanner, _ in pairs})
        )
    return Candidates(
        scanners=len(scanners),
        heads=re.compile(f"{re.escape(before)}(?=({_longest(set(by_head))}))"),
        asked=asked,
        open_terms=tuple(
            _open_terms(scanner, category, terms, before)
            for (scanner, category), terms in sorted(open_by_category.items())
        ),
    )


def _open_terms(scanner: int, category: int, terms: list[str], before: str) -> OpenTerms:
    needed = [texts for term in terms if (texts := needles(term)) is not None]
    union = "|".join(f"(?:{term})" for term in terms)
    return OpenTerms(
        scanner=scanner,
        category=category,
        # A search for texts is a search for the start of any of them.
        guard=re.compile(_shortest(set().union(*needed))) if len(needed) == len(terms) else None,
        places=re.compile(f"{re.escape(before)}(?={union})"),
    )


def _trie(texts: set[str]) -> dict[str, Any]:
    trie: dict[str, Any] = {}
    for text in texts:
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}
    return trie


def _longest(texts: set[str]) -> str:
    """A regex matching the longest of texts that the text at a place begins with."""
    return _deepest(_trie(texts)) if texts else "(?!)"


def _deepest(node: dict[str, Any]) -> str:
    # Going on is tried before ending here, so the longest text that fits is matched.
    parts = [re.escape(char) + _deepest(child) for char, child in node.items() if char]
    if "" in node:
        parts.append("")
    if len(parts) == 1:
        return parts[0]
    return "(?:" + "|".join(parts) + ")"


def _shortest(texts: set[str]) -> str:
    """A regex matching the start of any text that begins with one of texts."""
    return _first_end(_trie(texts)) if texts else "(?!)"


def _first_end(node: dict[str, Any]) -> str:
    if "" in node:
        # A text ends here: whatever follows, the place is one.
        return ""
    parts = [re.escape(char) + _first_end(child) for char, child in node.items()]
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
