"""The learned component of triage: a linear model over n-gram features, predicted in plain Python.

Training (inquiry/triage/train.py, with scikit-learn) writes the weights as JSON, package data
beside rules.json. Run time needs no library: the logit of each topic is its bias plus the sum
of the weights of the features present, scaled by 1/sqrt(number of features) as in training;
the softmax of the logits gives probabilities. Only features with a weight are stored.

Weights are whole numbers of 1/SCALE (four decimals): sums of integers are exact, so the result
does not depend on the order the features come in, and adding integers is fast: each row is
packed into one integer (packed.py), so a set of features adds up in one addition per feature.
Triage itself gives the words of the text rather than the set of feature names, and the rows
are looked up once per word (word_rows.py).
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from inquiry.triage.packed import PackedTable, pack_table
from inquiry.triage.taxonomy import Topic
from inquiry.triage.word_rows import WordRows

DEFAULT_MODEL_PATH = Path(__file__).with_name("model.json")
MODEL_FORMAT = 2
SCALE = 10_000


class ModelError(ValueError):
    """The model file is missing or does not hold a model; the message names the file."""


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Weights of one linear model: a bias and a weight row per feature, one value per topic."""

    topics: tuple[Topic, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[int, ...]]  # in units of 1/SCALE
    # The same rows, each packed into one integer so that a set of them adds up fast.
    packed: PackedTable = field(init=False, repr=False, compare=False)
    # The rows of each word's features, looked up once per word (word_rows.py).
    word_rows: WordRows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        packed = pack_table(self.weights, len(self.topics))
        object.__setattr__(self, "packed", packed)
        object.__setattr__(self, "word_rows", WordRows(packed))

    def probabilities(self, features: set[str]) -> dict[Topic, float]:
        """Return the probability of each topic for a set of feature names."""
        return self._softmax(self.packed.sums(features), len(features))

    def text_probabilities(self, words: list[str], signals: set[str]) -> dict[Topic, float]:
        """Return probabilities(ngrams(text) | signals) for the words of a text, faster."""
        total, features = self.word_rows.total(words, signals)
        return self._softmax(self.packed.unpack(total, features), features)

    def _softmax(self, totals: list[int] | None, features: int) -> dict[Topic, float]:
        scale = 1 / (SCALE * math.sqrt(features)) if features else 0.0
        if totals is not None:
            logits = [b + s * scale for b, s in zip(self.bias, totals, strict=True)]
        else:
            logits = list(self.bias)
        top = max(logits)
        exps = [math.exp(logit - top) for logit in logits]
        total = sum(exps)
        return {topic: value / total for topic, value in zip(self.topics, exps, strict=True)}


def empty_model() -> LinearModel:
    """A model that knows nothing (every topic equally likely): what training starts from."""
    return LinearModel(topics=tuple(Topic), bias=(0.0,) * len(Topic), weights={})


def _parse(data: object) -> LinearModel:
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ValueError(f"expected an object with format {MODEL_FORMAT}")
    topics = tuple(Topic(name) for name in data["topics"])
    if sorted(topics) != sorted(Topic):
        raise ValueError("topics must list every triage topic once")
    bias = tuple(float(value) for value in data["bias"])
    weights: dict[str, tuple[int, ...]] = {}
    for feature, row in data["weights"].items():
        if not all(type(value) is int for value in row):
            raise ValueError(f"feature {feature!r}: weights must be whole numbers")
        values = tuple(row)
        if len(values) != len(topics):
            raise ValueError(f"feature {feature!r} has {len(values)} weights, not {len(topics)}")
        weights[feature] = values
    if len(bias) != len(topics):
        raise ValueError("bias must have one value per topic")
    return LinearModel(topics=topics, bias=bias, weights=weights)


def load_model(path: Path) -> LinearModel:
    """Read a model file written by inquiry.triage.train."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the triage model: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the triage model is not valid JSON: {exc.msg}") from exc
    try:
        return _parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a triage model: {exc}") from exc


def model_document(model: LinearModel) -> dict[str, object]:
    """The JSON document of a model, features sorted so that the same model gives the same file."""
    return {
        "format": MODEL_FORMAT,
        "topics": [topic.value for topic in model.topics],
        "bias": list(model.bias),
        "weights": {feature: list(model.weights[feature]) for feature in sorted(model.weights)},
    }
