"""The fast paths of triage find exactly what the plain regexes find.

The scanner (scan.py) asks each category only at some places; the packed model rows
(packed.py) add all topics at once. Both must give the same answers as the plain way:
one finditer per category (or one alternation of the concepts), and sums topic by topic.
"""

import json
import re
from pathlib import Path

import pytest

from inquiry.triage import load_rules
from inquiry.triage.classify import model_features, read
from inquiry.triage.features import ngrams
from inquiry.triage.packed import pack_table
from inquiry.triage.patterns import heads, needles
from inquiry.triage.rules import Rules
from inquiry.triage.scan import Scanner
from inquiry.triage.text import fold

CORPUS = Path(__file__).with_name("corpus.jsonl")


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


@pytest.fixture(scope="module")
def texts(rules: Rules) -> list[str]:
    """Every corpus message as triage reads it, and once more without punctuation."""
    messages = [json.loads(line)["message"] for line in CORPUS.read_text().splitlines()]
    stripped = [re.sub(r"[^\w\s]", "", message).upper() for message in messages]
    return [" " + rules.concepts.normalise(fold(text)) for text in messages + stripped]


def spans(found: list[tuple[int, re.Match[str]]]) -> list[tuple[int, tuple[int, int]]]:
    return sorted((category, match.span()) for category, match in found)


def each_on_its_own(scanner: Scanner, text: str) -> list[tuple[int, tuple[int, int]]]:
    return sorted(
        (category, match.span())
        for category, regex in enumerate(scanner.categories)
        for match in regex.finditer(text)
    )


class TestScanner:
    def test_topics_and_context_match_what_each_regex_finds(
        self, rules: Rules, texts: list[str]
    ) -> None:
        for scanner in (rules.scanner, rules.concepts.context):
            for text in texts:
                assert spans(scanner.find(text)) == each_on_its_own(scanner, text), text

    def test_concepts_match_what_one_alternation_of_them_finds(
        self, rules: Rules, texts: list[str]
    ) -> None:
        scanner = rules.concepts.concepts
        # Each category is " " + body + after; the alternation puts the bodies side by side.
        bodies = [regex.pattern[1 : -len("(?![a-z0-9])")] for regex in scanner.categories]
        one = re.compile(" (?:" + "|".join(f"(?P<c{i}>{b})" for i, b in enumerate(bodies)) + ")")
        one = re.compile(one.pattern + "(?![a-z0-9])")
        found_any = 0
        for text in texts:
            expected = [(int((m.lastgroup or "c")[1:]), m.span()) for m in one.finditer(text)]
            found = [(category, m.span()) for category, m in scanner.find_first(text)]
            assert found == expected, text
            found_any += bool(found)
        assert found_any > 100

    def test_a_term_that_may_start_at_any_word_is_guarded_by_what_it_needs(self) -> None:
        term = "[a-z]+(?:pam|zole) (?:saved|hidden)"
        assert {"a", "z"} <= heads(term, 8)
        assert needles(term) == frozenset({"pam saved", "pam hidden", "zole saved", "zole hidden"})

    def test_optional_words_and_letters_give_their_heads(self) -> None:
        assert heads("(?:the )?last", 4) == {"the ", "last"}
        assert heads("i'?m", 4) == {"i'm", "im"}


class TestPackedRows:
    def test_sums_equal_the_plain_sums(self, rules: Rules, texts: list[str]) -> None:
        model = rules.model
        for text in texts[:300]:
            features = ngrams(text)
            rows = [model.weights[f] for f in features if f in model.weights]
            plain = [sum(column) for column in zip(*rows, strict=True)] if rows else None
            assert model.packed.sums(features) == plain

    def test_extreme_weights_do_not_carry_into_the_next_topic(self) -> None:
        table = {"a": (-(2**20), 2**20, 0), "b": (-(2**20), -(2**20), 5)}
        packed = pack_table(table, 3)
        assert packed.sums(["a", "b", "c"]) == [-(2**21), 0, 5]
        assert packed.sums(["c"]) is None

    def test_probabilities_of_a_reading_are_unchanged_by_packing(self, rules: Rules) -> None:
        reading = read("", "I would like to book my next infusion, is Tuesday free?", rules)
        features = model_features(reading)
        rows = [rules.model.weights[f] for f in features if f in rules.model.weights]
        assert rules.model.packed.sums(features) == [sum(c) for c in zip(*rows, strict=True)]


class TestNeedles:
    def test_a_term_matching_regardless_of_case_gives_no_letters(self) -> None:
        assert needles("(?i)[a-z]+ saved") is None
        # Only the space is certain: "SAVED" matches too.
        assert needles("[a-z]+ (?i:saved)") == frozenset({" "})

    def test_each_alternative_must_give_a_text(self) -> None:
        assert needles("[a-z]+ (?:saved|[0-9]+)") == frozenset({" "})
        assert needles("(?:a|b)[a-z]+ (?:kept|saved)") == frozenset({" kept", " saved"})
