"""Measure triage against labelled inquiries: the numbers the clinic's safety targets are set on."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from inquiry.triage.classify import TriageResult, triage
from inquiry.triage.rules import Rules
from inquiry.triage.taxonomy import Topic


@dataclass(frozen=True, slots=True)
class LabelledInquiry:
    line: int
    subject: str
    message: str
    expected: Topic
    visitor_topic: Topic | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Miss:
    case: LabelledInquiry
    result: TriageResult


@dataclass(slots=True)
class Evaluation:
    total: int = 0
    correct: int = 0
    confusion: Counter[tuple[Topic, Topic]] = field(default_factory=Counter)
    crisis_total: Counter[str] = field(default_factory=Counter)
    crisis_found: Counter[str] = field(default_factory=Counter)
    non_crisis_total: int = 0
    false_crisis: int = 0
    real_marked_spam: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def crisis_recall(self, language: str | None = None) -> float:
        """Share of crisis inquiries flagged, overall or in one language (1.0 if none)."""
        found = self.crisis_found.total() if language is None else self.crisis_found[language]
        total = self.crisis_total.total() if language is None else self.crisis_total[language]
        return found / total if total else 1.0

    @property
    def false_crisis_rate(self) -> float:
        return self.false_crisis / self.non_crisis_total if self.non_crisis_total else 0.0


def evaluate(cases: Iterable[LabelledInquiry], rules: Rules | None = None) -> Evaluation:
    """Triage every labelled inquiry and tally agreement, crisis recall and spam mistakes."""
    report = Evaluation()
    for case in cases:
        result = triage(case.subject, case.message, case.visitor_topic, rules=rules)
        language = case.language or result.language
        report.total += 1
        report.confusion[(case.expected, result.topic)] += 1
        if result.topic == case.expected:
            report.correct += 1
        else:
            report.misses.append(Miss(case, result))
        if case.expected == Topic.CRISIS:
            report.crisis_total[language] += 1
            report.crisis_found[language] += result.crisis
        else:
            report.non_crisis_total += 1
            report.false_crisis += result.crisis
        if result.topic == Topic.SPAM and case.expected != Topic.SPAM:
            report.real_marked_spam += 1
    return report


def format_report(report: Evaluation) -> list[str]:
    """Render the evaluation as plain text lines for the terminal."""
    topics = list(Topic)
    width = max(len(topic) for topic in topics) + 2
    lines = [
        f"inquiries: {report.total}",
        f"accuracy: {report.accuracy:.3f} ({report.correct}/{report.total})",
        f"crisis recall: {report.crisis_recall():.3f} "
        f"({report.crisis_found.total()}/{report.crisis_total.total()})",
    ]
    for language in sorted(report.crisis_total):
        lines.append(
            f"crisis recall [{language}]: {report.crisis_recall(language):.3f} "
            f"({report.crisis_found[language]}/{report.crisis_total[language]})"
        )
    lines += [
        f"crisis raised on non-crisis: {report.false_crisis_rate:.3f} "
        f"({report.false_crisis}/{report.non_crisis_total})",
        f"real inquiries marked spam: {report.real_marked_spam}",
        "",
        "confusion (rows: expected, columns: predicted)",
        " " * width + "".join(f"{topic[:8]:>9}" for topic in topics),
    ]
    for expected in topics:
        counts = "".join(f"{report.confusion[(expected, got)]:>9}" for got in topics)
        lines.append(f"{expected:<{width}}{counts}")
    if report.misses:
        lines += ["", "misclassified (line: expected -> predicted; reasons)"]
        for miss in report.misses:
            lines.append(
                f"{miss.case.line}: {miss.case.expected} -> {miss.result.topic}; "
                f"{'; '.join(miss.result.reasons)} | {miss.case.message[:90]!r}"
            )
    return lines
