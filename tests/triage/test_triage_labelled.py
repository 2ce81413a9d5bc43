"""Triage against labelled inquiries: our dev set, our held-out set and the clinic's examples."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from inquiry.triage import Topic, triage
from inquiry.triage.evaluate import LabelledInquiry, evaluate

HERE = Path(__file__).parent
DEV = HERE / "labelled.jsonl"
HELDOUT = HERE / "heldout.jsonl"
SHARED = HERE.parents[2] / "shared" / "triage" / "examples.jsonl"


def load(path: Path) -> list[LabelledInquiry]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row: dict[str, Any] = json.loads(line)
        cases.append(
            LabelledInquiry(
                line=number,
                subject=row.get("subject") or "",
                message=row["message"],
                expected=Topic(row["topic"]),
                visitor_topic=Topic(row["visitor_topic"]) if row.get("visitor_topic") else None,
                language=row.get("lang"),
            )
        )
    return cases


OURS = [(path.stem, case) for path in (DEV, HELDOUT) for case in load(path)]
CRISIS = [
    pytest.param(case, id=f"{name}:{case.line}")
    for name, case in OURS
    if case.expected == Topic.CRISIS
]
REAL = [
    pytest.param(case, id=f"{name}:{case.line}")
    for name, case in OURS
    if case.expected != Topic.SPAM
]


class TestLabelledSet:
    def test_set_is_large_and_bilingual(self) -> None:
        cases = load(DEV) + load(HELDOUT)
        assert len(cases) >= 250
        assert {case.language for case in cases} == {"en", "fr"}
        assert {case.expected for case in cases} == set(Topic)

    @pytest.mark.parametrize("case", CRISIS)
    def test_every_crisis_inquiry_is_flagged(self, case: LabelledInquiry) -> None:
        result = triage(case.subject, case.message, case.visitor_topic)
        assert result.crisis, case.message
        assert result.topic == Topic.CRISIS

    @pytest.mark.parametrize("case", REAL)
    def test_real_inquiry_is_never_spam(self, case: LabelledInquiry) -> None:
        assert triage(case.subject, case.message, case.visitor_topic).topic != Topic.SPAM

    @pytest.mark.parametrize("path", [DEV, HELDOUT], ids=["dev", "heldout"])
    def test_meets_the_clinic_safety_targets(self, path: Path) -> None:
        report = evaluate(load(path))
        assert report.crisis_recall("en") == 1.0
        assert report.crisis_recall("fr") == 1.0
        assert report.false_crisis_rate <= 0.05
        assert report.real_marked_spam == 0

    @pytest.mark.parametrize("path", [DEV, HELDOUT], ids=["dev", "heldout"])
    def test_meets_the_clinic_topic_target(self, path: Path) -> None:
        assert evaluate(load(path)).accuracy >= 0.9

    def test_reasons_name_what_decided(self) -> None:
        for _, case in OURS:
            result = triage(case.subject, case.message, case.visitor_topic)
            assert result.reasons, case.message
            if result.crisis:
                assert re.match(r"[a-z_]+: '.+' \u2014 |learned model: crisis", result.reasons[0])


@pytest.mark.skipif(not SHARED.exists(), reason=f"shared examples not beside the repo: {SHARED}")
def test_shared_examples() -> None:
    report = evaluate(load(SHARED))
    assert report.crisis_recall() == 1.0
    assert report.accuracy >= 0.9
    assert report.real_marked_spam == 0
