"""Evaluation and cross-validation figures as terminal text or as one JSON document."""

from __future__ import annotations

from typing import Any

from inquiry.triage.crossval import CrossValidation
from inquiry.triage.evaluate import Evaluation, Outcome, Tally
from inquiry.triage.taxonomy import Topic

_TOPICS = list(Topic)
_WIDTH = max(len(topic) for topic in _TOPICS) + 2


def _figure(share: float | None, part: int, whole: int) -> str:
    return f"{'n/a' if share is None else f'{share:.3f}'} ({part}/{whole})"


def _excerpt(outcome: Outcome) -> str:
    return f"{'; '.join(outcome.result.reasons)} | {outcome.case.message[:90]!r}"


def _recall(tally: Tally) -> str:
    return _figure(tally.crisis_recall, tally.crisis_found, tally.crisis_total)


def _summary(tally: Tally) -> list[str]:
    """Accuracy, crisis recall, then the rest (the overall report puts each language between)."""
    lines = [
        f"accuracy: {_figure(tally.accuracy, tally.correct, tally.total)}",
        f"crisis recall: {_recall(tally)}",
    ]
    alarms = len(tally.false_alarms)
    lines += [
        "crisis raised on non-crisis: "
        f"{_figure(tally.false_alarm_rate, alarms, tally.non_crisis_total)}",
        f"real inquiries marked spam: {len(tally.marked_spam)} "
        f"({len(tally.marked_spam)}/{tally.real_total})",
    ]
    if tally.priority_total:
        agreement = _figure(tally.priority_agreement, tally.priority_agree, tally.priority_total)
        lines.append(f"priority agreement: {agreement}")
    if tally.language_total:
        agreement = _figure(tally.language_agreement, tally.language_agree, tally.language_total)
        lines.append(f"language agreement: {agreement}")
    return lines


def _confusion(tally: Tally) -> list[str]:
    lines = [
        "confusion (rows: expected, columns: predicted)",
        " " * _WIDTH + "".join(f"{topic[:8]:>9}" for topic in _TOPICS),
    ]
    for expected in _TOPICS:
        counts = "".join(f"{tally.confusion[(expected, got)]:>9}" for got in _TOPICS)
        lines.append(f"{expected:<{_WIDTH}}{counts}")
    return lines


def _listed(title: str, outcomes: list[Outcome]) -> list[str]:
    if not outcomes:
        return []
    lines = [f"{title} (line: expected -> predicted; reasons | message)"]
    for outcome in outcomes:
        case, result = outcome.case, outcome.result
        lines.append(f"  {case.line}: {case.expected} -> {result.topic}; {_excerpt(outcome)}")
    return lines


def _row(name: str, tally: Tally) -> str:
    cells = [
        _figure(tally.accuracy, tally.correct, tally.total),
        _recall(tally),
        _figure(tally.false_alarm_rate, len(tally.false_alarms), tally.non_crisis_total),
        f"{len(tally.marked_spam)}/{tally.real_total}",
        _figure(tally.priority_agreement, tally.priority_agree, tally.priority_total),
    ]
    return f"{name:<20}{tally.total:>6}  " + "".join(f"{cell:<16}" for cell in cells).rstrip()


_HEADER = (
    f"{'':<20}{'lines':>6}  "
    + "".join(
        f"{title:<16}"
        for title in ("accuracy", "crisis recall", "false alarms", "marked spam", "priority")
    ).rstrip()
)


def _lines_of(outcomes: list[Outcome]) -> str:
    return ", ".join(str(outcome.case.line) for outcome in outcomes)


def _by_value(evaluation: Evaluation) -> list[str]:
    lines = ["", f"by {evaluation.by}", _HEADER]
    values = sorted(evaluation.values.items())
    lines += [_row(value, tally) for value, tally in values]
    for value, tally in values:
        for what, outcomes in (
            ("missed crises", tally.missed_crises),
            ("false alarms", tally.false_alarms),
            ("real inquiries marked spam", tally.marked_spam),
        ):
            if outcomes:
                lines.append(f"  {value}: {what} at lines {_lines_of(outcomes)}")
    return lines


def format_report(evaluation: Evaluation) -> list[str]:
    """The evaluation as plain text lines: overall, each language, then each `by` value."""
    overall = evaluation.overall
    summary = _summary(overall)
    lines = [f"inquiries: {overall.total}", *summary[:2]]
    for language, tally in sorted(evaluation.languages.items()):
        lines.append(f"crisis recall [{language}]: {_recall(tally)}")
    lines += [*summary[2:], "", *_confusion(overall)]
    if overall.misclassified:
        lines += ["", "misclassified (line: expected -> predicted; reasons)"]
        for miss in overall.misclassified:
            lines.append(
                f"{miss.case.line}: {miss.case.expected} -> {miss.result.topic}; {_excerpt(miss)}"
            )
    for language, tally in sorted(evaluation.languages.items()):
        lines += ["", f"== language {language}: {tally.total} inquiries ==", *_summary(tally)]
        lines += ["", *_confusion(tally)]
        lines += _listed("missed crises", tally.missed_crises)
        lines += _listed("false alarms", tally.false_alarms)
        lines += _listed("real inquiries marked spam", tally.marked_spam)
    if evaluation.by is not None:
        lines += _by_value(evaluation)
    return lines


def format_cross_validation(run: CrossValidation) -> list[str]:
    """Each fold's figures on one line, then the pooled report."""
    total = run.pooled.overall.total
    lines = [
        f"cross-validation: {run.folds} folds, seed {run.seed}, {total} inquiries",
        "",
        _HEADER.replace(" " * 20, f"{'fold':<20}", 1),
    ]
    lines += [_row(str(fold.number), fold.evaluation.overall) for fold in run.results]
    lines += ["", "pooled (every line evaluated once, by the fold that held it out)"]
    return lines + format_report(run.pooled)


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    case, result = outcome.case, outcome.result
    return {
        "line": case.line,
        "expected": case.expected.value,
        "predicted": result.topic.value,
        "crisis": result.crisis,
        "priority": result.priority.value,
        "language": result.language,
        "reasons": list(result.reasons),
        **{key: list(values) for key, values in case.annotations.items()},
    }


def _share(share: float | None, part: int, whole: int, key: str) -> dict[str, Any]:
    return {key: share, "count": part, "of": whole}


def tally_json(tally: Tally) -> dict[str, Any]:
    """One tally as JSON: counts, shares (null where nothing was counted), and the lines."""
    confusion: dict[str, dict[str, int]] = {}
    for (expected, predicted), count in sorted(tally.confusion.items()):
        confusion.setdefault(expected.value, {})[predicted.value] = count
    return {
        "inquiries": tally.total,
        "topic": {
            **_share(tally.accuracy, tally.correct, tally.total, "accuracy"),
            "confusion": confusion,
            "misclassified": [_outcome_json(outcome) for outcome in tally.misclassified],
        },
        "crisis_recall": {
            **_share(tally.crisis_recall, tally.crisis_found, tally.crisis_total, "recall"),
            "missed": [_outcome_json(outcome) for outcome in tally.missed_crises],
        },
        "false_alarms": {
            **_share(
                tally.false_alarm_rate, len(tally.false_alarms), tally.non_crisis_total, "rate"
            ),
            "lines": [_outcome_json(outcome) for outcome in tally.false_alarms],
        },
        "real_marked_spam": {
            **_share(
                len(tally.marked_spam) / tally.real_total if tally.real_total else None,
                len(tally.marked_spam),
                tally.real_total,
                "rate",
            ),
            "lines": [_outcome_json(outcome) for outcome in tally.marked_spam],
        },
        "priority": _share(
            tally.priority_agreement, tally.priority_agree, tally.priority_total, "agreement"
        ),
        "language": _share(
            tally.language_agreement, tally.language_agree, tally.language_total, "agreement"
        ),
    }


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as one JSON object: overall, per language, per `by` value."""
    languages = {key: tally_json(tally) for key, tally in sorted(evaluation.languages.items())}
    values = {key: tally_json(tally) for key, tally in sorted(evaluation.values.items())}
    return {
        "overall": tally_json(evaluation.overall),
        "languages": languages,
        "by": None if evaluation.by is None else {"field": evaluation.by, "values": values},
    }


def cross_validation_json(run: CrossValidation) -> dict[str, Any]:
    return {
        "folds": run.folds,
        "seed": run.seed,
        "results": [
            {"fold": fold.number, "lines": fold.lines, **evaluation_json(fold.evaluation)}
            for fold in run.results
        ],
        "pooled": evaluation_json(run.pooled),
    }
