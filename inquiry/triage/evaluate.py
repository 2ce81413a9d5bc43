"""Measure triage against labelled inquiries: the numbers the clinic's safety targets are set on.

Figures are kept overall, per language, and per value of one annotated field (`--by`), each
as a Tally of counts and the lines behind them, so that tallies add up: the pooled figures of
a cross-validation are the sum of its folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from inquiry.triage.classify import TriageResult
from inquiry.triage.detector import Classifier, rules_classifier
from inquiry.triage.labelled import LabelledInquiry
from inquiry.triage.rules import Rules
from inquiry.triage.taxonomy import Topic

__all__ = ["Evaluation", "LabelledInquiry", "Outcome", "Tally", "evaluate", "group_values"]

# Fields a line's labels answer for `--by`, beside its annotations.
LABEL_FIELDS = ("language", "topic", "priority", "visitor_topic")
NONE = "(none)"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled inquiry and what the classifier made of it."""

    case: LabelledInquiry
    result: TriageResult

    @property
    def language(self) -> str:
        return self.case.language or self.result.language


@dataclass(slots=True)
class Tally:
    """Agreement with the labels over a set of inquiries, with the lines that disagree."""

    total: int = 0
    correct: int = 0
    confusion: Counter[tuple[Topic, Topic]] = field(default_factory=Counter)
    misclassified: list[Outcome] = field(default_factory=list)
    crisis_total: int = 0
    missed_crises: list[Outcome] = field(default_factory=list)
    non_crisis_total: int = 0
    false_alarms: list[Outcome] = field(default_factory=list)
    real_total: int = 0
    marked_spam: list[Outcome] = field(default_factory=list)
    priority_total: int = 0  # lines labelled with a priority
    priority_agree: int = 0
    language_total: int = 0  # lines labelled with a language
    language_agree: int = 0

    def add(self, outcome: Outcome) -> None:
        case, result = outcome.case, outcome.result
        self.total += 1
        self.confusion[(case.expected, result.topic)] += 1
        if result.topic == case.expected:
            self.correct += 1
        else:
            self.misclassified.append(outcome)
        if case.expected == Topic.CRISIS:
            self.crisis_total += 1
            if not result.crisis:
                self.missed_crises.append(outcome)
        else:
            self.non_crisis_total += 1
            if result.crisis:
                self.false_alarms.append(outcome)
        if case.expected != Topic.SPAM:
            self.real_total += 1
            if result.topic == Topic.SPAM:
                self.marked_spam.append(outcome)
        if case.priority is not None:
            self.priority_total += 1
            self.priority_agree += result.priority == case.priority
        if case.language is not None:
            self.language_total += 1
            self.language_agree += result.language == case.language

    def __iadd__(self, other: Tally) -> Tally:
        """Add another tally's counts and lines: the figures of two sets pooled."""
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            setattr(self, name, mine + getattr(other, name))
        return self

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None

    @property
    def crisis_found(self) -> int:
        return self.crisis_total - len(self.missed_crises)

    @property
    def crisis_recall(self) -> float | None:
        return self.crisis_found / self.crisis_total if self.crisis_total else None

    @property
    def false_alarm_rate(self) -> float | None:
        return len(self.false_alarms) / self.non_crisis_total if self.non_crisis_total else None

    @property
    def priority_agreement(self) -> float | None:
        return self.priority_agree / self.priority_total if self.priority_total else None

    @property
    def language_agreement(self) -> float | None:
        return self.language_agree / self.language_total if self.language_total else None


def group_values(outcome: Outcome, by: str) -> tuple[str, ...]:
    """The values a line counts under for `by`: each item of a list, "(none)" when unset.

    A value's part before a colon is its group: `paraphrase:12` counts as `paraphrase`.
    """
    case = outcome.case
    labels = {
        "language": outcome.language,
        "topic": case.expected.value,
        "priority": case.priority.value if case.priority else None,
        "visitor_topic": case.visitor_topic.value if case.visitor_topic else None,
    }
    label = labels.get(by)
    if by in labels:
        values: tuple[str, ...] = (label,) if label else ()
    else:
        values = case.annotations.get(by, ())
    grouped = dict.fromkeys(value.split(":", 1)[0] for value in values)
    return tuple(grouped) or (NONE,)


@dataclass(slots=True)
class Evaluation:
    """The figures of one run: overall, per language, and per value of the `by` field."""

    overall: Tally = field(default_factory=Tally)
    languages: dict[str, Tally] = field(default_factory=dict)
    by: str | None = None
    values: dict[str, Tally] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.overall.add(outcome)
        self.languages.setdefault(outcome.language, Tally()).add(outcome)
        if self.by is not None:
            for value in group_values(outcome, self.by):
                self.values.setdefault(value, Tally()).add(outcome)

    def __iadd__(self, other: Evaluation) -> Evaluation:
        self.overall += other.overall
        for mine, theirs in ((self.languages, other.languages), (self.values, other.values)):
            for key, tally in theirs.items():
                mine.setdefault(key, Tally())
                mine[key] += tally
        return self

    # The figures the clinic's targets are stated in.
    @property
    def total(self) -> int:
        return self.overall.total

    @property
    def accuracy(self) -> float:
        return self.overall.accuracy or 0.0

    def crisis_recall(self, language: str | None = None) -> float:
        """Share of crisis inquiries flagged, overall or in one language (1.0 if none)."""
        tally = self.overall if language is None else self.languages.get(language, Tally())
        recall = tally.crisis_recall
        return 1.0 if recall is None else recall

    @property
    def false_crisis_rate(self) -> float:
        return self.overall.false_alarm_rate or 0.0

    @property
    def real_marked_spam(self) -> int:
        return len(self.overall.marked_spam)


def evaluate(
    cases: Iterable[LabelledInquiry],
    rules: Rules | None = None,
    *,
    classifier: Classifier | None = None,
    by: str | None = None,
) -> Evaluation:
    """Triage every labelled inquiry (with the rules, or `classifier`) and tally the figures."""
    classify = classifier or rules_classifier(rules)
    report = Evaluation(by=by)
    for case in cases:
        report.add(Outcome(case, classify(case.subject, case.message, case.visitor_topic)))
    return report
