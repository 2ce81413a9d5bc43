"""The learned model: its file, plain-Python prediction, reproducible training, cross-validation."""

import json
from pathlib import Path

import pytest

from inquiry.triage import default_rules, load_rules
from inquiry.triage.classify import model_features, read
from inquiry.triage.crossval import cross_validate
from inquiry.triage.features import ngrams, words
from inquiry.triage.labelled import read_labelled
from inquiry.triage.model import DEFAULT_MODEL_PATH, load_model, model_document
from inquiry.triage.taxonomy import Topic

CORPUS = Path(__file__).with_name("corpus.jsonl")


def corpus_cases() -> list:  # type: ignore[type-arg]
    return list(read_labelled(CORPUS.read_text(encoding="utf-8").splitlines()).cases)


class TestFeatures:
    def test_words_drop_apostrophes_and_punctuation(self) -> None:
        assert words(" don't stop, c' est-a-dire!") == ["dont", "stop", "c", "est", "a", "dire"]

    def test_digits_read_by_their_count_not_their_value(self) -> None:
        assert words(" took 30 pills at 9:45") == ["took", "##", "pills", "at", "#", "##"]
        assert ngrams(" took 30 pills") == ngrams(" took 45 pills")

    def test_ngrams_hold_words_pairs_and_letter_pieces(self) -> None:
        found = ngrams(" want die")
        assert {"w want", "w die", "b want die", "<wan", "want", "ant>", "<die", "die>"} <= found

    def test_rule_signals_are_features(self) -> None:
        reading = read("", "I was suicidal years ago; how much is an infusion?", default_rules())
        features = model_features(reading, Topic.BILLING)
        assert "@concept ideation cancelled" in features
        assert "@context history" in features
        assert "@hint billing" in features


class TestTrainingScale:
    def test_frequent_ngrams_are_scaled_down_and_rare_ones_and_signals_are_not(self) -> None:
        from inquiry.triage.train import _idf

        assert _idf("w de", 3_000, 4_000) < 0.3
        assert _idf("w carabine", 3, 4_000) == 1.0
        assert _idf("@concept ideation counted", 3_000, 4_000) == 1.0


class TestShippedModel:
    def test_is_package_data_of_a_few_megabytes_at_most(self) -> None:
        assert DEFAULT_MODEL_PATH.stat().st_size < 4_000_000
        model = load_model(DEFAULT_MODEL_PATH)
        assert set(model.topics) == set(Topic)
        assert len(model.weights) > 1000

    def test_probabilities_sum_to_one_and_repeat(self) -> None:
        model = default_rules().model
        features = ngrams(" can i get a receipt for my insurance")
        first = model.probabilities(features)
        assert sum(first.values()) == pytest.approx(1.0)
        # The same features added in another order (a set's order varies between processes).
        rebuilt: set[str] = set()
        for feature in sorted(features, reverse=True):
            rebuilt.add(feature)
        assert model.probabilities(rebuilt) == first
        assert max(first, key=first.__getitem__) == Topic.BILLING

    def test_empty_text_gives_the_prior(self) -> None:
        probabilities = default_rules().model.probabilities(set())
        assert sum(probabilities.values()) == pytest.approx(1.0)


class TestTraining:
    def test_the_same_lines_give_the_same_model(self) -> None:
        pytest.importorskip("sklearn")
        from inquiry.triage.train import fit

        cases = corpus_cases()[::6]
        rules = default_rules()
        first = json.dumps(model_document(fit(cases, rules)))
        assert json.dumps(model_document(fit(cases, rules))) == first

    def test_train_command_writes_a_loadable_model(self, tmp_path: Path) -> None:
        pytest.importorskip("sklearn")
        from inquiry.triage.train import main

        corpus = tmp_path / "small.jsonl"
        lines = CORPUS.read_text(encoding="utf-8").splitlines()[::8]
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / "model.json"
        assert main(["--corpus", str(corpus), "--out", str(out)]) == 0
        rules = load_rules(model_path=out)
        assert rules.model.weights

    def test_cross_validated_figures_meet_the_targets(self) -> None:
        """Three folds, each fold triaged by a model that never saw it."""
        pytest.importorskip("sklearn")
        from inquiry.triage.train import learned_trainer

        run = cross_validate(corpus_cases(), learned_trainer(), folds=3, seed=0)
        pooled = run.pooled
        assert pooled.crisis_recall("en") >= 0.98
        assert pooled.crisis_recall("fr") >= 0.98
        assert pooled.false_crisis_rate <= 0.06
        assert pooled.real_marked_spam == 0
        assert pooled.accuracy >= 0.82
