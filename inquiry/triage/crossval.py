"""K-fold cross-validation of a triage trainer on a labelled corpus.

The split is deterministic for a seed, stratified by expected topic and language, and keeps a
paraphrase (`source: paraphrase:<line>`) in the fold of the line it rewords: a learned
component must not be measured on a rewording of a line it was trained on.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from inquiry.triage.detector import Trainer
from inquiry.triage.evaluate import Evaluation, evaluate
from inquiry.triage.labelled import LabelledInquiry

DEFAULT_FOLDS = 5
DEFAULT_SEED = 0


class CrossValidationError(ValueError):
    """The corpus cannot be split as asked."""


@dataclass(slots=True)
class Fold:
    number: int  # from 1
    lines: list[int]  # the file's line numbers evaluated in this fold
    evaluation: Evaluation


@dataclass(slots=True)
class CrossValidation:
    folds: int
    seed: int
    results: list[Fold] = field(default_factory=list)
    pooled: Evaluation = field(default_factory=Evaluation)


def _families(cases: Sequence[LabelledInquiry]) -> list[list[int]]:
    """Indexes of cases grouped with the lines they paraphrase, in file order."""
    index_of_line = {case.line: index for index, case in enumerate(cases)}
    parent = list(range(len(cases)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index, case in enumerate(cases):
        for source in case.annotations.get("source", ()):
            kind, _, line = source.partition(":")
            if kind == "paraphrase" and line.isdigit() and int(line) in index_of_line:
                parent[root(index)] = root(index_of_line[int(line)])
    families: dict[int, list[int]] = defaultdict(list)
    for index in range(len(cases)):
        families[root(index)].append(index)
    return sorted(families.values())


def split(cases: Sequence[LabelledInquiry], folds: int, seed: int) -> list[list[int]]:
    """Partition the cases' indexes into `folds` folds, the same for the same seed.

    Families are shuffled within their stratum (the first line's topic and language); each
    goes to the fold holding fewest of that stratum so far, then fewest overall.
    """
    if folds < 2:
        raise CrossValidationError("cross-validation needs at least 2 folds")
    families = _families(cases)
    if len(families) < folds:
        raise CrossValidationError(
            f"{folds} folds need at least {folds} lines (or paraphrase families); "
            f"the file has {len(families)}"
        )
    strata: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
    for family in families:
        first = cases[family[0]]
        strata[(first.expected.value, first.language or "")].append(family)
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    assigned: list[list[int]] = [[] for _ in range(folds)]
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        in_stratum = [0] * folds
        for family in members:
            target = min(range(folds), key=lambda f: (in_stratum[f], len(assigned[f]), f))
            assigned[target] += family
            in_stratum[target] += len(family)
    return [sorted(fold) for fold in assigned]


def cross_validate(
    cases: Sequence[LabelledInquiry],
    trainer: Trainer,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
    by: str | None = None,
) -> CrossValidation:
    """Train on all folds but one and evaluate on that one, for each fold; pool the figures."""
    run = CrossValidation(folds=folds, seed=seed, pooled=Evaluation(by=by))
    for number, held_out in enumerate(split(cases, folds, seed), start=1):
        chosen = set(held_out)
        training = [case for index, case in enumerate(cases) if index not in chosen]
        evaluation = evaluate(
            [cases[index] for index in held_out], classifier=trainer(training), by=by
        )
        run.results.append(Fold(number, [cases[index].line for index in held_out], evaluation))
        run.pooled += evaluation
    return run
