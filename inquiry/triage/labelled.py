"""Labelled inquiries as the data files hold them (docs/triage.md, "File format"), line by line."""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from inquiry.triage.taxonomy import Priority, Topic

# What a labelled line is read from; the rest of a line are annotations (category, style, …).
INPUT_KEYS = frozenset({"subject", "message", "visitor_topic", "id"})
LABEL_KEYS = frozenset({"topic", "expected", "priority", "crisis", "language", "lang"})
EXPECTED_KEYS = (
    "each line needs 'message' and the expected 'topic' ('expected' in older files); "
    "optional: 'subject', 'visitor_topic', 'priority', 'crisis', 'language' ('lang'), "
    "'category', 'style', 'source'"
)
LANGUAGES = ("en", "fr")


class BadLine(ValueError):
    """One input line cannot be used; reported for that line, the rest go on."""


@dataclass(frozen=True, slots=True)
class LabelledInquiry:
    """An inquiry as a visitor sent it, and the answer a person gave it."""

    line: int
    subject: str
    message: str
    expected: Topic
    visitor_topic: Topic | None = None
    language: str | None = None  # None: the detected language stands in
    priority: Priority | None = None
    # Every other key of the line, as text values: a list gives several (style).
    annotations: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


def records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """Each non-blank line's number and its JSON object, or what is wrong with it."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadLine(f"invalid JSON: {exc.msg}")
            continue
        if isinstance(record, dict):
            yield number, record
        else:
            yield number, BadLine("each line must be a JSON object")


def text_field(record: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadLine(f"'{key}' must be a string")
    return value


def topic_field(record: Mapping[str, Any], key: str) -> Topic | None:
    value = record.get(key)
    if value in (None, ""):
        return None
    try:
        return Topic(value)
    except ValueError:
        raise BadLine(f"'{key}' is not a topic: {value!r}") from None


def _priority(record: Mapping[str, Any]) -> Priority | None:
    value = record.get("priority")
    if value in (None, ""):
        return None
    try:
        return Priority(value)
    except ValueError:
        raise BadLine(f"'priority' is not a priority: {value!r}") from None


def _language(record: Mapping[str, Any]) -> str | None:
    given = {key: record[key] for key in ("language", "lang") if record.get(key) is not None}
    if len(set(map(str, given.values()))) > 1:
        raise BadLine("'language' and 'lang' disagree")
    for key, value in given.items():
        if value not in LANGUAGES:
            raise BadLine(f"'{key}' must be 'en' or 'fr', not {value!r}")
        return str(value)
    return None


def _annotation(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(item if isinstance(item, str) else json.dumps(item) for item in value)
    return (value if isinstance(value, str) else json.dumps(value),)


def labelled(number: int, record: Mapping[str, Any]) -> LabelledInquiry:
    """Read one labelled line; BadLine says what is missing or wrong."""
    expected = topic_field(record, "expected") or topic_field(record, "topic")
    if expected is None:
        raise BadLine("no expected topic ('topic', or 'expected' in older files)")
    crisis = record.get("crisis")
    if crisis is not None:
        if not isinstance(crisis, bool):
            raise BadLine("'crisis' must be true or false")
        if crisis != (expected == Topic.CRISIS):
            raise BadLine(f"'crisis' is {str(crisis).lower()} but the topic is {expected}")
    return LabelledInquiry(
        line=number,
        subject=text_field(record, "subject"),
        message=text_field(record, "message", required=True),
        expected=expected,
        visitor_topic=topic_field(record, "visitor_topic"),
        language=_language(record),
        priority=_priority(record),
        annotations={
            key: _annotation(value)
            for key, value in record.items()
            if key not in INPUT_KEYS | LABEL_KEYS
        },
    )


@dataclass(frozen=True, slots=True)
class LabelledFile:
    cases: list[LabelledInquiry]
    skipped: list[tuple[int, str]]  # line number, what is wrong with it


def read_labelled(lines: Iterable[str]) -> LabelledFile:
    """Every usable labelled line, and the lines that could not be used."""
    cases: list[LabelledInquiry] = []
    skipped: list[tuple[int, str]] = []
    for number, record in records(lines):
        try:
            if isinstance(record, BadLine):
                raise record
            cases.append(labelled(number, record))
        except BadLine as exc:
            skipped.append((number, str(exc)))
    return LabelledFile(cases, skipped)
