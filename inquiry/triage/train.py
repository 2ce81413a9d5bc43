"""Train the learned component of triage on a labelled corpus and write its weights.

    python -m inquiry.triage.train [--corpus tests/triage/corpus.jsonl] [--out MODEL]

Needs scikit-learn (`pip install -e '.[train]'`); run time does not. The model is a
multinomial logistic regression over the features of inquiry.triage.features and the named
signals the rules find (classify.model_features). Each inquiry's features are scaled by
1/sqrt(their number), as at run time, and the most frequent n-grams further down (_idf); that
scale is folded into the stored weights, so run time reads the features present alone.
Training is deterministic: the same corpus, rules and options give the same file, byte for byte.
"""

import argparse
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from inquiry.triage.classify import TriageResult, model_features, read, triage
from inquiry.triage.detector import Classifier, Trainer
from inquiry.triage.labelled import LabelledInquiry, read_labelled
from inquiry.triage.model import (
    DEFAULT_MODEL_PATH,
    SCALE,
    LinearModel,
    empty_model,
    model_document,
)
from inquiry.triage.rules import Rules, RulesError, default_rules, load_rules
from inquiry.triage.taxonomy import VISITOR_TOPICS, Topic

DEFAULT_CORPUS = Path("tests/triage/corpus.jsonl")
# Regularisation (inverse strength), the fewest inquiries a feature must occur in to be
# learned, the smallest weight kept, and the extra weight of a crisis line in the loss: a
# missed crisis costs more than a false alarm.
DEFAULT_C = 60.0
DEFAULT_MIN_COUNT = 3
DEFAULT_PRUNE = 0.02
DEFAULT_CRISIS_WEIGHT = 1.0
# The inverse document frequency at and above which a feature keeps its full scale (_idf).
IDF_FULL = 6.0
_DECIMALS = 4  # of the biases; weights are whole numbers of 1/SCALE

log = logging.getLogger(__name__)


def _hint(topic: Topic | None) -> Topic | None:
    return topic if topic in VISITOR_TOPICS else None


def _idf(feature: str, count: int, documents: int) -> float:
    """A feature's scale in training: 1 for most n-grams, less for those found in more than
    about one inquiry in 150 (its inverse document frequency over IDF_FULL). A feature scaled
    down needs a larger weight for the same effect, which the regularisation resists, so the
    model cannot lean on function words ("de", "avec", "the", "i") that crisis lines share
    with ordinary ones. The rules' named signals ("@concept ...") keep scale 1."""
    if feature.startswith("@"):
        return 1.0
    return min(1.0, (math.log((1 + documents) / (1 + count)) + 1) / IDF_FULL)


def fit(
    cases: Sequence[LabelledInquiry],
    rules: Rules,
    *,
    c: float = DEFAULT_C,
    min_count: int = DEFAULT_MIN_COUNT,
    prune: float = DEFAULT_PRUNE,
    crisis_weight: float = DEFAULT_CRISIS_WEIGHT,
) -> LinearModel:
    """Fit the model on labelled inquiries, read with these rules."""
    # Imported here: scikit-learn is a training-time dependency only.
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    documents = [
        sorted(model_features(read(c.subject, c.message, rules), _hint(c.visitor_topic)))
        for c in cases
    ]
    counts = Counter(feature for features in documents for feature in features)
    vocabulary = sorted(feature for feature, count in counts.items() if count >= min_count)
    column = {feature: index for index, feature in enumerate(vocabulary)}
    factor = {feature: _idf(feature, counts[feature], len(documents)) for feature in vocabulary}
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, features in enumerate(documents):
        scale = 1 / math.sqrt(len(features)) if features else 0.0
        for feature in features:
            if feature in column:
                rows.append(row)
                columns.append(column[feature])
                values.append(scale * factor[feature])
    matrix = csr_matrix((values, (rows, columns)), shape=(len(documents), len(vocabulary)))
    topics = tuple(Topic)
    labels = [topics.index(case.expected) for case in cases]
    weights = [crisis_weight if case.expected == Topic.CRISIS else 1.0 for case in cases]
    model = LogisticRegression(C=c, max_iter=2000, tol=1e-4)
    model.fit(matrix, labels, sample_weight=weights)
    # Classes absent from the training lines get a very low bias and no weights.
    coef = [[0.0] * len(vocabulary) for _ in topics]
    bias = [-20.0] * len(topics)
    for row, label in enumerate(model.classes_):
        coef[label] = list(model.coef_[row]) if len(model.classes_) > 2 else []
        bias[label] = float(model.intercept_[row]) if len(model.classes_) > 2 else 0.0
    table: dict[str, tuple[int, ...]] = {}
    for index, feature in enumerate(vocabulary):
        row_values = tuple(
            round(float(coef[t][index]) * factor[feature] * SCALE) for t in range(len(topics))
        )
        if max(abs(value) for value in row_values) >= prune * SCALE:
            table[feature] = row_values
    return LinearModel(topics=topics, bias=tuple(round(b, _DECIMALS) for b in bias), weights=table)


def learned_classifier(rules: Rules, model: LinearModel) -> Classifier:
    """Triage with these rules and this model."""
    combined = replace(rules, model=model)

    def classify(subject: str, message: str, visitor_topic: Topic | None = None) -> TriageResult:
        return triage(subject, message, visitor_topic, rules=combined)

    return classify


def learned_trainer(rules: Rules | None = None) -> Trainer:
    """A trainer that fits the model on the training lines (for cross-validation)."""
    chosen = rules or default_rules()

    def train(cases: Sequence[LabelledInquiry]) -> Classifier:
        return learned_classifier(chosen, fit(cases, chosen))

    return train


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inquiry.triage.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--rules", type=Path, help="rules file to read the corpus with")
    parser.add_argument("--c", type=float, default=DEFAULT_C, help="inverse regularisation")
    parser.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT)
    parser.add_argument("--prune", type=float, default=DEFAULT_PRUNE)
    parser.add_argument("--crisis-weight", type=float, default=DEFAULT_CRISIS_WEIGHT)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train on the corpus and write the model file; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        # The rules read the corpus; the model they carry plays no part in training.
        rules = load_rules(args.rules, model=empty_model())
        lines = args.corpus.read_text(encoding="utf-8").splitlines()
    except (RulesError, OSError) as exc:
        log.error("error: %s", exc)
        return 2
    labelled = read_labelled(lines)
    if labelled.skipped or not labelled.cases:
        log.error("error: %s has unusable lines: %s", args.corpus, labelled.skipped[:3])
        return 2
    model = fit(
        labelled.cases,
        rules,
        c=args.c,
        min_count=args.min_count,
        prune=args.prune,
        crisis_weight=args.crisis_weight,
    )
    document = json.dumps(model_document(model), separators=(",", ":"))
    args.out.write_text(document + "\n", encoding="utf-8")
    log.info("%s: %d features, %d bytes", args.out, len(model.weights), len(document) + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
