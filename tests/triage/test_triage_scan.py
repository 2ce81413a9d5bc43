"""The fast paths of triage find exactly what the plain regexes find.

The scanners (scan.py) ask each category only at the places one pass over the text gives; the
packed model rows (packed.py) add all topics at once. Both must give the same answers as the
plain way: one finditer per category (or one alternation of the concepts), and sums topic by
topic.
"""

import json
import random
import re
from pathlib import Path

import pytest

from inquiry.triage import load_rules
from inquiry.triage.classify import model_features, read, signals
from inquiry.triage.features import ngrams, words
from inquiry.triage.model import LinearModel
from inquiry.triage.packed import pack_table
from inquiry.triage.patterns import heads, needles
from inquiry.triage.rules import Rules
from inquiry.triage.scan import Scanner, build_candidates
from inquiry.triage.taxonomy import Topic
from inquiry.triage.text import fold

CORPUS = Path(__file__).with_name("corpus.jsonl")
RULES = Path(__file__).parents[2] / "inquiry" / "triage" / "rules.json"
# The order of the scanners in the rules' shared pass.
CONCEPTS, TOPICS, CONTEXT = 0, 1, 2
_AFTER = "(?![a-z0-9])"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


@pytest.fixture(scope="module")
def texts(rules: Rules) -> list[str]:
    """Every corpus message as triage reads it, and once more without punctuation."""
    messages = [json.loads(line)["message"] for line in CORPUS.read_text().splitlines()]
    stripped = [re.sub(r"[^\w\s]", "", message).upper() for message in messages]
    return [" " + rules.concepts.normalise(fold(text)) for text in messages + stripped]


@pytest.fixture(scope="module")
def random_texts(rules: Rules, texts: list[str]) -> list[str]:
    """Texts made of random corpus words and random starts of the rules' own phrases, so that
    terms are cut, joined and run into each other in ways no inquiry has shown yet."""
    pick = random.Random(20261205)
    words = sorted({word for text in texts for word in text.split()})
    phrases = sorted(
        phrase
        for text in texts
        for _, match in rules.scanner.find(text, rules.candidates.find(text)[TOPICS])
        for phrase in [match.group().strip()]
    )
    phrases += [
        match.group().strip()
        for text in texts
        for regex in rules.concepts.concepts.categories + rules.concepts.context.categories
        for match in regex.finditer(text)
    ]
    made = []
    for _ in range(3000):
        parts = []
        for _ in range(pick.randint(1, 40)):
            if pick.random() < 0.3:
                phrase = pick.choice(phrases)
                parts.append(phrase[: pick.randint(1, len(phrase))])
            else:
                parts.append(pick.choice(words))
        made.append(" " + " ".join(parts))
    return made


def spans(found: list[tuple[int, re.Match[str]]]) -> list[tuple[int, tuple[int, int]]]:
    return sorted((category, match.span()) for category, match in found)


def each_on_its_own(scanner: Scanner, text: str) -> list[tuple[int, tuple[int, int]]]:
    return sorted(
        (category, match.span())
        for category, regex in enumerate(scanner.categories)
        for match in regex.finditer(text)
    )


def one_alternation(scanner: Scanner) -> re.Pattern[str]:
    # Each category is " " + body + after; the alternation puts the bodies side by side.
    bodies = [regex.pattern[1 : -len(_AFTER)] for regex in scanner.categories]
    return re.compile(
        " (?:" + "|".join(f"(?P<c{i}>{b})" for i, b in enumerate(bodies)) + ")" + _AFTER
    )


class TestScanner:
    def test_topics_and_context_match_what_each_regex_finds(
        self, rules: Rules, texts: list[str], random_texts: list[str]
    ) -> None:
        for text in texts + random_texts:
            places = rules.candidates.find(text)
            for scanner, which in ((rules.scanner, TOPICS), (rules.concepts.context, CONTEXT)):
                found = scanner.find(text, places[which])
                assert spans(found) == each_on_its_own(scanner, text), text

    def test_concepts_match_what_one_alternation_of_them_finds(
        self, rules: Rules, texts: list[str], random_texts: list[str]
    ) -> None:
        scanner = rules.concepts.concepts
        one = one_alternation(scanner)
        found_any = 0
        for text in texts + random_texts:
            expected = [(int((m.lastgroup or "c")[1:]), m.span()) for m in one.finditer(text)]
            places = rules.candidates.find(text)[CONCEPTS]
            found = [(category, m.span()) for category, m in scanner.find_first(text, places)]
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


class TestSharedPass:
    """One pass gives every scanner its places, with the categories to ask at each."""

    def scanners(self) -> list[list[list[str]]]:
        return [
            [["plan(?:ned|ning)? to"], ["pla[a-z]+ding"], ["[a-z]+pam (?:saved|hidden)"]],
            [["planning (?:my|the) (?:visit|trip)"], ["plan"]],
        ]

    def test_the_longest_head_asks_every_category_a_shorter_head_asks(self) -> None:
        candidates = build_candidates(self.scanners(), " ")
        # "planning" continues "plan" (scanner 0's "pla[a-z]", scanner 1's "plan") too.
        assert candidates.find(" planning my visit") == [[(0, (0, 1))], [(0, (0, 1))]]
        # "plan my" continues "plan" but not "plan to": scanner 0's first term is not asked.
        assert candidates.find(" plan my visit") == [[(0, (1,))], [(0, (1,))]]
        assert candidates.find(" a plane") == [[(2, (1,))], [(2, (1,))]]
        assert candidates.find(" a pl") == [[], []]

    def test_an_open_term_is_asked_only_where_its_own_regex_matches(self) -> None:
        candidates = build_candidates(self.scanners(), " ")
        # Without "pam saved" or "pam hidden" in the text, no word is asked about it.
        assert candidates.find(" my lorazepam was plans") == [[(17, (1,))], [(17, (1,))]]
        assert candidates.find(" my lorazepam saved plans") == [
            [(3, (2,)), (19, (1,))],
            [(19, (1,))],
        ]
        # Where a head asks too, both are asked, in category order.
        both = build_candidates([[["lora[a-z]+"], ["[a-z]+pam saved"]]], " ")
        assert both.find(" lorazepam saved") == [[(0, (0, 1))]]

    def test_each_scanner_finds_what_its_regexes_find_on_random_texts(self) -> None:
        terms = self.scanners()
        categories = [
            Scanner(tuple(re.compile(f" (?:{'|'.join(c)}){_AFTER}") for c in scanner))
            for scanner in terms
        ]
        candidates = build_candidates(terms, " ")
        pick = random.Random(7)
        words = ["plan", "planned", "planning", "to", "my", "the", "visit", "plaiding", "pla"]
        words += ["lorazepam", "saved", "hidden", "a", "plane", "trip", "pam"]
        for _ in range(2000):
            text = " " + " ".join(pick.choices(words, k=pick.randint(1, 12)))
            places = candidates.find(text)
            for scanner, found in zip(categories, places, strict=True):
                assert spans(scanner.find(text, found)) == each_on_its_own(scanner, text), text
            expected = [
                (int((m.lastgroup or "c")[1:]), m.span())
                for m in one_alternation(categories[0]).finditer(text)
            ]
            first = categories[0].find_first(text, places[0])
            assert [(category, m.span()) for category, m in first] == expected, text

    def test_the_rules_heads_reach_past_the_first_word(self, rules: Rules) -> None:
        # Past "about " (which some concepts' terms begin with), "about my a" asks none.
        assert rules.candidates.find(" about my appointment")[CONCEPTS] == []


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


class TestTextingForms:
    def test_forms_are_spelled_out_as_the_runs_of_their_characters_say(
        self, rules: Rules, texts: list[str], random_texts: list[str]
    ) -> None:
        spelling = rules.concepts.spelling
        for text in texts + random_texts + [" je suis là rn", " chu pu capable"]:
            parts = re.split("([a-z0-9']+)", text)
            parts[1::2] = [spelling.get(run, run) for run in parts[1::2]]
            assert rules.concepts.normalise(text) == "".join(parts), text


class TestWordRows:
    """The model's sum over a text from rows kept per word equals the sum over its features."""

    def test_probabilities_equal_those_of_the_features_exactly(
        self, rules: Rules, texts: list[str], random_texts: list[str]
    ) -> None:
        model = rules.model
        for text in texts + random_texts[:1000]:
            reading = read("", text, rules)
            plain = model.probabilities(model_features(reading, Topic.BILLING))
            fast = model.text_probabilities(words(reading.text), signals(reading, Topic.BILLING))
            assert fast == plain, text

    def test_the_count_is_the_number_of_distinct_features(
        self, rules: Rules, texts: list[str]
    ) -> None:
        for text in texts[:300] + [" ", " word word word", " a b a b a b"]:
            reading = read("", text, rules)
            features = model_features(reading)
            _, count = rules.model.word_rows.total(words(reading.text), signals(reading))
            assert count == len(features), text

    def test_a_piece_two_words_share_is_added_once(self) -> None:
        ones = (1,) * len(Topic)
        weights = {"<thi": ones, "hing": ones, "b thing things": ones, "@links": ones}
        model = LinearModel(topics=tuple(Topic), bias=(0.0,) * len(Topic), weights=weights)
        text_words = words(" thing things thing")
        total, count = model.word_rows.total(text_words, {"@links", "@spam 2"})
        features = ngrams(" thing things thing") | {"@links", "@spam 2"}
        assert count == len(features)
        assert model.packed.unpack(total, count) == model.packed.sums(features) == [4] * len(Topic)


class TestNeedles:
    def test_a_term_matching_regardless_of_case_gives_no_letters(self) -> None:
        assert needles("(?i)[a-z]+ saved") is None
        # Only the space is certain: "SAVED" matches too.
        assert needles("[a-z]+ (?i:saved)") == frozenset({" "})

    def test_each_alternative_must_give_a_text(self) -> None:
        assert needles("[a-z]+ (?:saved|[0-9]+)") == frozenset({" "})
        assert needles("(?:a|b)[a-z]+ (?:kept|saved)") == frozenset({" kept", " saved"})
