"""What evaluation and cross-validation measure: a classifier, and the trainer that builds it.

Today's detector is the rules alone: nothing is learned from data, so training it is a no-op
and its trainer hands back the rules classifier unchanged. A learned component (a model
trained on the corpus, or rules tuned from it) plugs in as another Trainer, and the same
commands then measure it fold by fold on data it was not trained on.
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
    """A trainer that learns nothing: whatever it is given, the rules classifier unchanged."""
    classifier = rules_classifier(rules)

    def train(_: Sequence[LabelledInquiry]) -> Classifier:
        return classifier

    return train
