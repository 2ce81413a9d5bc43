"""The triage corpus and the blind held-out sets: well formed, large enough, and kept apart.

The format and the categories are those of docs/triage.md.
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, VISITOR_TOPICS, Priority, Topic

HERE = Path(__file__).parent
CORPUS = HERE / "corpus.jsonl"
HELDOUT = (HERE / "heldout-a.jsonl", HERE / "heldout-b.jsonl")

CRISIS_CATEGORIES = frozenset(
    {"direct", "indirect", "means", "act", "third_party", "unsafe", "voices", "buried"}
)
HARD_NEGATIVE_CATEGORIES = frozenset(
    {"history", "negation", "information", "professional", "marketing", "idiom"}
)
ORDINARY_CATEGORIES = frozenset(
    {"booking", "billing", "referral", "side_effects", "eligibility", "general", "spam", "ordinary"}
)
STYLES = frozenset(
    {
        "textspeak",
        "typos",
        "no_punctuation",
        "all_caps",
        "quebecois",
        "mixed_language",
        "long",
        "short",
    }
)
_SOURCE = re.compile(r"hand|template|paraphrase:\d+")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def normalised(text: str) -> str:
    """Lower case, no accents, letters and digits only: the same words however punctuated."""
    stripped = unicodedata.normalize("NFKD", text.lower())
    letters = "".join(c for c in stripped if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", letters))


def problems(row: dict[str, Any]) -> list[str]:
    """What is wrong with one labelled line, by the labelling guide."""
    found = []
    for key in ("subject", "message", "topic", "priority", "crisis", "language", "category"):
        if key not in row:
            found.append(f"missing {key}")
    if not isinstance(row.get("message"), str) or not row["message"].strip():
        found.append("empty message")
    try:
        topic = Topic(str(row.get("topic")))
    except ValueError:
        return [*found, f"topic {row.get('topic')!r}"]
    if row.get("priority") != Priority(PRIORITY_OF_TOPIC[topic]):
        found.append(f"priority {row.get('priority')!r} for {topic}")
    if row.get("crisis") is not (topic == Topic.CRISIS):
        found.append("crisis flag disagrees with the topic")
    if row.get("language") not in ("en", "fr"):
        found.append(f"language {row.get('language')!r}")
    allowed = (
        CRISIS_CATEGORIES
        if topic == Topic.CRISIS
        else HARD_NEGATIVE_CATEGORIES | ORDINARY_CATEGORIES
    )
    if row.get("category") not in allowed:
        found.append(f"category {row.get('category')!r} for {topic}")
    hint = row.get("visitor_topic")
    if hint is not None and hint not in VISITOR_TOPICS:
        found.append(f"visitor_topic {hint!r}")
    if not set(row.get("style", [])) <= STYLES:
        found.append(f"style {row.get('style')!r}")
    if not _SOURCE.fullmatch(str(row.get("source", ""))):
        found.append(f"source {row.get('source')!r}")
    return found


ALL = (CORPUS, *HELDOUT)


@pytest.mark.parametrize("path", ALL, ids=lambda path: path.name)
def test_every_line_follows_the_labelling_guide(path: Path) -> None:
    rows = read(path)
    errors = [f"{n}: {p}" for n, row in enumerate(rows, start=1) for p in problems(row)]
    assert errors == []


@pytest.mark.parametrize("path", ALL, ids=lambda path: path.name)
def test_no_message_appears_twice_in_a_file(path: Path) -> None:
    counts = Counter(normalised(row["message"]) for row in read(path))
    assert [text for text, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("path", HELDOUT, ids=lambda path: path.name)
def test_no_held_out_line_is_in_the_training_corpus(path: Path) -> None:
    training = {normalised(row["message"]) for row in read(CORPUS)}
    assert [row["message"] for row in read(path) if normalised(row["message"]) in training] == []


def test_the_held_out_sets_do_not_share_lines() -> None:
    first, second = ({normalised(row["message"]) for row in read(path)} for path in HELDOUT)
    assert first & second == set()


def test_the_corpus_is_large_bilingual_and_covers_every_kind() -> None:
    rows = read(CORPUS)
    languages = Counter(row["language"] for row in rows)
    categories = Counter(row["category"] for row in rows)
    assert len(rows) >= 1500
    assert languages["fr"] * 3 >= len(rows)
    assert {row["topic"] for row in rows} == {str(topic) for topic in Topic}
    assert sum(row["crisis"] for row in rows) >= 300
    assert sum(categories[c] for c in HARD_NEGATIVE_CATEGORIES) >= 300
    assert set(categories) >= CRISIS_CATEGORIES | HARD_NEGATIVE_CATEGORIES
    for language in ("en", "fr"):
        crisis_kinds = {r["category"] for r in rows if r["crisis"] and r["language"] == language}
        assert crisis_kinds == CRISIS_CATEGORIES, language


@pytest.mark.parametrize("path", HELDOUT, ids=lambda path: path.name)
def test_each_held_out_set_is_large_and_bilingual(path: Path) -> None:
    rows = read(path)
    assert len(rows) >= 200
    assert {row["language"] for row in rows} == {"en", "fr"}
    assert {row["category"] for row in rows if row["crisis"]} == CRISIS_CATEGORIES
