"""What evaluation and cross-validation measure: a classifier, and the trainer that builds it.

Triage is the rules (concepts, context, topic terms) with a learned model. The trainer of the
model (inquiry.triage.train.learned_trainer) fits it on the training folds, so cross-validation
measures it on lines it never saw; rules_trainer() hands back the rules with the shipped model
unchanged, for measuring the machinery itself.
"""

from collections.abc import Callable, Sequence
from typing import Protocol

from inquiry.triage.classify import TriageResult, triage
from inquiry.triage.labelled import LabelledInquiry
from inquiry.triage.rules import Rules
from inquiry.triage.taxonomy import Topic


class Classifier(Protocol):
    """Triage one inquiry from what the visitor sent: never from its labels."""

    def __call__(
        self, subject: str, message: str, visitor_topic: Topic | None = None
    ) -> TriageResult: ...


Trainer = Callable[[Sequence[LabelledInquiry]], Classifier]


def rules_classifier(rules: Rules | None = None) -> Classifier:
    """The rules (these, or those in use) as a classifier."""

    def classify(subject: str, message: str, visitor_topic: Topic | None = None) -> TriageResult:
        return triage(subject, message, visitor_topic, rules=rules)

    return classify


def rules_trainer(rules: Rules | None = None) -> Trainer:
    """A trainer that learns nothing: whatever it is given, the classifier in use unchanged."""
    classifier = rules_classifier(rules)

    def train(_: Sequence[LabelledInquiry]) -> Classifier:
        return classifier

    return train
