"""`inquiry triage --eval` and `--cross-validate`: figures checked against ones worked by hand."""

import io
import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from inquiry.triage import Topic, TriageResult, triage
from inquiry.triage.cli import run
from inquiry.triage.crossval import cross_validate, split
from inquiry.triage.detector import Classifier, rules_trainer
from inquiry.triage.evaluate import Evaluation, Tally, evaluate
from inquiry.triage.labelled import LabelledInquiry, read_labelled
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC

HERE = Path(__file__).parent

# Ten lines whose rules outcome is known (the comment after each), labelled so that every
# figure is exercised: two missed crises, one false alarm, one real inquiry marked spam, one
# priority disagreement. Line 4 uses the older 'lang' and line 8 the older 'expected'.
ROWS: list[dict[str, Any]] = [
    # 1: crisis, found
    {"message": "I want to end my life", "topic": "crisis", "crisis": True, "language": "en",
     "category": "direct", "style": ["short"], "source": "hand"},
    # 2: predicted appointment: a missed crisis
    {"message": "can I move my appointment to friday", "topic": "crisis", "crisis": True,
     "language": "en", "category": "buried", "style": ["typos", "no_punctuation"],
     "source": "hand"},
    # 3: crisis, found
    {"message": "je veux mourir", "topic": "crisis", "crisis": True, "language": "fr",
     "category": "direct", "style": ["short", "quebecois"], "source": "template"},
    # 4: predicted general: a missed crisis
    {"message": "Avez-vous un stationnement?", "topic": "crisis", "lang": "fr",
     "category": "indirect"},
    # 5: billing, right; priority right
    {"message": "Can I get a receipt for my last payment?", "topic": "billing",
     "priority": "normal", "crisis": False, "language": "en", "category": "billing",
     "source": "paraphrase:10"},
    # 6: predicted crisis: a false alarm
    {"message": "I want to kill myself", "topic": "general", "language": "en",
     "category": "idiom", "style": ["short"]},
    # 7: predicted spam: a real inquiry marked spam
    {"message": "Cheap SEO backlinks for your site, rank #1 on Google", "topic": "general",
     "language": "en", "category": "general"},
    # 8: spam, right
    {"message": "Buy followers now, best SEO services for your site", "expected": "spam",
     "language": "en", "category": "spam"},
    # 9: appointment, right; priority right
    {"message": "Je voudrais annuler mon rendez-vous de demain", "topic": "appointment",
     "priority": "normal", "language": "fr", "category": "booking", "source": "paraphrase:4"},
    # 10: clinical, right; labelled priority normal, predicted high
    {"message": "Can I take ketamine while on lithium?", "topic": "clinical",
     "priority": "normal", "language": "en", "category": "side_effects"},
]  # fmt: skip


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run(list(argv), io.StringIO(""), out)
    return code, out.getvalue()


def write(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def cases_file(tmp_path: Path) -> Path:
    return write(tmp_path / "cases.jsonl", ROWS)


def figures(tally: dict[str, Any]) -> dict[str, Any]:
    """The counts of a JSON tally, and the line numbers behind each list."""
    return {
        "inquiries": tally["inquiries"],
        "topic": (tally["topic"]["count"], tally["topic"]["of"]),
        "crisis": (tally["crisis_recall"]["count"], tally["crisis_recall"]["of"]),
        "missed": [o["line"] for o in tally["crisis_recall"]["missed"]],
        "alarms": (tally["false_alarms"]["count"], tally["false_alarms"]["of"]),
        "alarm lines": [o["line"] for o in tally["false_alarms"]["lines"]],
        "spam": (tally["real_marked_spam"]["count"], tally["real_marked_spam"]["of"]),
        "spam lines": [o["line"] for o in tally["real_marked_spam"]["lines"]],
        "priority": (tally["priority"]["count"], tally["priority"]["of"]),
    }


def by_hand(
    n: int,
    topic: tuple[int, int],
    crisis: tuple[int, int],
    alarms: tuple[int, int],
    spam: tuple[int, int],
    priority: tuple[int, int] = (0, 0),
    missed: Sequence[int] = (),
    alarm_lines: Sequence[int] = (),
    spam_lines: Sequence[int] = (),
) -> dict[str, Any]:
    return {
        "inquiries": n,
        "topic": topic,
        "crisis": crisis,
        "missed": list(missed),
        "alarms": alarms,
        "alarm lines": list(alarm_lines),
        "spam": spam,
        "spam lines": list(spam_lines),
        "priority": priority,
    }


class TestEvalText:
    def test_overall_figures(self, cases_file: Path) -> None:
        code, out = cli("--eval", str(cases_file))
        assert code == 0
        lines = out.splitlines()
        assert lines[:9] == [
            "inquiries: 10",
            "accuracy: 0.600 (6/10)",
            "crisis recall: 0.500 (2/4)",
            "crisis recall [en]: 0.500 (1/2)",
            "crisis recall [fr]: 0.500 (1/2)",
            "crisis raised on non-crisis: 0.167 (1/6)",
            "real inquiries marked spam: 1 (1/9)",
            "priority agreement: 0.667 (2/3)",
            "language agreement: 1.000 (10/10)",
        ]
        crisis_row = "".join(f"{count:>9}" for count in (2, 0, 0, 1, 0, 0, 1, 0))
        assert f"{'crisis':<13}{crisis_row}" in lines

    def test_each_language_lists_its_missed_crises_false_alarms_and_spam(
        self, cases_file: Path
    ) -> None:
        _, out = cli("--eval", str(cases_file))
        english = out.split("== language en: 7 inquiries ==\n")[1].split("== language fr")[0]
        assert english.splitlines()[:5] == [
            "accuracy: 0.571 (4/7)",
            "crisis recall: 0.500 (1/2)",
            "crisis raised on non-crisis: 0.200 (1/5)",
            "real inquiries marked spam: 1 (1/6)",
            "priority agreement: 0.500 (1/2)",
        ]
        assert "\n  2: crisis -> appointment; " in english
        assert "\n  6: general -> crisis; ideation: 'kill myself' \u2014 present" in english
        assert "\n  7: general -> spam; " in english
        french = out.split("== language fr: 3 inquiries ==\n")[1]
        assert french.splitlines()[:5] == [
            "accuracy: 0.667 (2/3)",
            "crisis recall: 0.500 (1/2)",
            "crisis raised on non-crisis: 0.000 (0/1)",
            "real inquiries marked spam: 0 (0/3)",
            "priority agreement: 1.000 (1/1)",
        ]
        assert "\n  4: crisis -> general; " in french
        assert "false alarms" not in french

    def test_by_category_names_the_lines_behind_each_figure(self, cases_file: Path) -> None:
        _, out = cli("--eval", str(cases_file), "--by", "category")
        by = out.split("\nby category\n")[1]
        assert "  buried: missed crises at lines 2" in by
        assert "  indirect: missed crises at lines 4" in by
        assert "  idiom: false alarms at lines 6" in by
        assert "  general: real inquiries marked spam at lines 7" in by
        assert by.count("\n") == 1 + 9 + 4  # header, nine categories, four lists


class TestEvalJson:
    def test_the_same_figures_as_one_document(self, cases_file: Path) -> None:
        code, out = cli("--eval", str(cases_file), "--json")
        assert code == 0
        document = json.loads(out)
        assert document["file"] == str(cases_file)
        assert document["skipped"] == []
        overall = document["overall"]
        assert figures(overall) == by_hand(
            10, (6, 10), (2, 4), (1, 6), (1, 9), (2, 3), [2, 4], [6], [7]
        )
        assert overall["topic"]["accuracy"] == 0.6
        assert overall["crisis_recall"]["recall"] == 0.5
        assert overall["topic"]["confusion"]["crisis"] == {
            "crisis": 2,
            "appointment": 1,
            "general": 1,
        }
        assert overall["topic"]["confusion"]["general"] == {"crisis": 1, "spam": 1}
        assert [o["line"] for o in overall["topic"]["misclassified"]] == [2, 4, 6, 7]
        languages = document["languages"]
        assert figures(languages["en"]) == by_hand(
            7, (4, 7), (1, 2), (1, 5), (1, 6), (1, 2), [2], [6], [7]
        )
        assert figures(languages["fr"]) == by_hand(3, (2, 3), (1, 2), (0, 1), (0, 3), (1, 1), [4])
        assert document["by"] is None

    def test_per_category(self, cases_file: Path) -> None:
        _, out = cli("--eval", str(cases_file), "--by", "category", "--json")
        by = json.loads(out)["by"]
        assert by["field"] == "category"
        values = {key: figures(tally) for key, tally in by["values"].items()}
        assert values == {
            "direct": by_hand(2, (2, 2), (2, 2), (0, 0), (0, 2)),
            "buried": by_hand(1, (0, 1), (0, 1), (0, 0), (0, 1), missed=[2]),
            "indirect": by_hand(1, (0, 1), (0, 1), (0, 0), (0, 1), missed=[4]),
            "billing": by_hand(1, (1, 1), (0, 0), (0, 1), (0, 1), (1, 1)),
            "idiom": by_hand(1, (0, 1), (0, 0), (1, 1), (0, 1), alarm_lines=[6]),
            "general": by_hand(1, (0, 1), (0, 0), (0, 1), (1, 1), spam_lines=[7]),
            "spam": by_hand(1, (1, 1), (0, 0), (0, 1), (0, 0)),
            "booking": by_hand(1, (1, 1), (0, 0), (0, 1), (0, 1), (1, 1)),
            "side_effects": by_hand(1, (1, 1), (0, 0), (0, 1), (0, 1), (0, 1)),
        }
        assert by["values"]["direct"]["false_alarms"]["rate"] is None  # nothing to count

    def test_a_list_counts_under_each_item_and_unset_is_none(self, cases_file: Path) -> None:
        _, out = cli("--eval", str(cases_file), "--by", "style", "--json")
        values = json.loads(out)["by"]["values"]
        count = {
            key: (tally["inquiries"], tally["topic"]["count"]) for key, tally in values.items()
        }
        assert count == {
            "short": (3, 2),
            "typos": (1, 0),
            "no_punctuation": (1, 0),
            "quebecois": (1, 1),
            "(none)": (6, 4),
        }

    def test_a_paraphrase_counts_as_paraphrase(self, cases_file: Path) -> None:
        _, out = cli("--eval", str(cases_file), "--by", "source", "--json")
        values = json.loads(out)["by"]["values"]
        count = {
            key: (tally["inquiries"], tally["topic"]["count"]) for key, tally in values.items()
        }
        assert count == {"hand": (2, 1), "template": (1, 1), "paraphrase": (2, 2), "(none)": (5, 2)}


class TestEvalRefusals:
    @pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
    def test_a_file_without_labels_is_an_error_naming_the_keys(
        self, tmp_path: Path, json_flag: list[str]
    ) -> None:
        path = write(tmp_path / "plain.jsonl", [{"message": "hi"}, {"text": "x", "label": "a"}])
        code, out = cli("--eval", str(path), *json_flag)
        assert code == 2
        assert out.startswith(f"error: {path} has no usable labelled lines: ")
        for key in ("'message'", "'topic'", "'expected'", "'language'", "'priority'"):
            assert key in out
        assert "crisis recall" not in out
        assert f"{path}:1: no expected topic" in out

    def test_labels_that_contradict_themselves_skip_the_line(self, tmp_path: Path) -> None:
        rows: list[dict[str, Any]] = [
            {"message": "How much?", "topic": "billing", "crisis": True},
            {"message": "How much?", "topic": "billing", "priority": "soon"},
            {"message": "How much?", "topic": "billing", "language": "es"},
            {"message": "How much?", "topic": "billing", "language": "en", "lang": "fr"},
            {"message": "Can I get a receipt for my last payment?", "topic": "billing"},
        ]
        code, out = cli("--eval", str(write(tmp_path / "c.jsonl", rows)))
        assert code == 1
        assert "accuracy: 1.000 (1/1)" in out
        assert "c.jsonl:1: 'crisis' is true but the topic is billing" in out
        assert "c.jsonl:2: 'priority' is not a priority: 'soon'" in out
        assert "c.jsonl:3: 'language' must be 'en' or 'fr'" in out
        assert "c.jsonl:4: 'language' and 'lang' disagree" in out

    def test_by_a_field_no_line_has(self, cases_file: Path) -> None:
        code, out = cli("--eval", str(cases_file), "--by", "mood")
        assert code == 2
        assert "no line of" in out
        assert "category" in out

    def test_options_that_need_a_file(self) -> None:
        for argv in (
            ["--json"],
            ["--by", "style"],
            ["--folds", "3"],
            ["--eval", "x", "--seed", "1"],
        ):
            with pytest.raises(SystemExit) as exit_:
                cli(*argv)
            assert exit_.value.code == 2


def corpus() -> list[LabelledInquiry]:
    lines = (HERE / "labelled.jsonl").read_text(encoding="utf-8").splitlines()
    return read_labelled(lines).cases


NUMBERS = tuple(f.name for f in fields(Tally) if isinstance(getattr(Tally(), f.name), int))


def counts(tally: Tally) -> dict[str, Any]:
    lists = ("misclassified", "missed_crises", "false_alarms", "marked_spam")
    return {
        **{name: getattr(tally, name) for name in NUMBERS},
        **{name: sorted(o.case.line for o in getattr(tally, name)) for name in lists},
        "confusion": dict(tally.confusion),
    }


class TestCrossValidation:
    def test_the_split_is_the_same_for_a_seed_and_partitions_the_file(self) -> None:
        cases = corpus()
        folds = split(cases, 5, seed=7)
        assert folds == split(cases, 5, seed=7)
        assert folds != split(cases, 5, seed=8)
        assert sorted(index for fold in folds for index in fold) == list(range(len(cases)))
        sizes = [len(fold) for fold in folds]
        assert max(sizes) - min(sizes) <= 1
        crises = [sum(cases[i].expected == Topic.CRISIS for i in fold) for fold in folds]
        assert max(crises) - min(crises) <= 1  # stratified

    def test_a_paraphrase_stays_with_the_line_it_rewords(self) -> None:
        rows = [{"message": f"How much is it, {n}?", "topic": "billing"} for n in range(12)]
        rows[5]["source"] = "paraphrase:1"
        rows[9]["source"] = "paraphrase:6"  # a paraphrase of a paraphrase of line 1
        cases = read_labelled(json.dumps(row) for row in rows).cases
        for seed in range(10):
            [family] = [f for f in split(cases, 4, seed) if 0 in f]
            assert {0, 5, 9} <= set(family)

    def test_pooled_figures_are_the_sum_of_the_folds(self) -> None:
        cases = corpus()
        run_ = cross_validate(cases, rules_trainer(), folds=4, seed=3, by="language")
        summed = Evaluation(by="language")
        for fold in run_.results:
            summed += fold.evaluation
        assert counts(run_.pooled.overall) == counts(summed.overall)
        for language, tally in run_.pooled.values.items():
            assert counts(tally) == counts(summed.values[language])
        assert sum(fold.evaluation.total for fold in run_.results) == len(cases)
        # The rules learn nothing: pooled over the folds is the whole file evaluated at once.
        assert counts(run_.pooled.overall) == counts(evaluate(cases).overall)

    def test_each_fold_is_trained_on_the_other_folds_only(self) -> None:
        cases = corpus()
        seen: list[set[int]] = []

        def recording(training: Sequence[LabelledInquiry]) -> Classifier:
            seen.append({case.line for case in training})
            return rules_trainer()(training)

        run_ = cross_validate(cases, recording, folds=5, seed=1)
        every = {case.line for case in cases}
        for trained_on, fold in zip(seen, run_.results, strict=True):
            assert trained_on.isdisjoint(fold.lines)
            assert trained_on | set(fold.lines) == every

    def test_a_learned_component_plugs_in(self) -> None:
        """A trainer that learns the commonest topic: its figures follow from its training."""

        def commonest_topic(training: Sequence[LabelledInquiry]) -> Classifier:
            topics = [case.expected for case in training]
            topic = max(set(topics), key=lambda t: (topics.count(t), t.value))

            def classify(subject: str, message: str, visitor_topic: Topic | None = None) -> Any:
                language = triage(subject, message).language
                priority = PRIORITY_OF_TOPIC[topic]
                return TriageResult(topic, priority, topic == Topic.CRISIS, language, ())

            return classify

        run_ = cross_validate(corpus(), commonest_topic, folds=3, seed=0)
        pooled = run_.pooled.overall
        # The crisis topic is the commonest in every training split: it is all it predicts.
        assert (
            pooled.correct == pooled.crisis_total == pooled.confusion[(Topic.CRISIS, Topic.CRISIS)]
        )
        assert pooled.crisis_recall == 1.0
        assert len(pooled.false_alarms) == pooled.non_crisis_total


class TestCrossValidateCommand:
    def test_folds_and_pooled_as_json_the_same_for_the_same_seed(self) -> None:
        path = str(HERE / "labelled.jsonl")
        code, out = cli("--cross-validate", path, "--folds", "4", "--seed", "11", "--json")
        assert code == 0
        document = json.loads(out)
        assert (document["folds"], document["seed"]) == (4, 11)
        lines = [line for fold in document["results"] for line in fold["lines"]]
        assert sorted(lines) == list(range(1, len(corpus()) + 1))
        pooled = document["pooled"]["overall"]
        for key in ("topic", "crisis_recall", "false_alarms", "real_marked_spam"):
            parts = [fold["overall"][key]["count"] for fold in document["results"]]
            assert sum(parts) == pooled[key]["count"]
        assert cli("--cross-validate", path, "--folds", "4", "--seed", "11", "--json")[1] == out
        assert cli("--cross-validate", path, "--folds", "4", "--seed", "12", "--json")[1] != out

    def test_text_has_a_line_per_fold_then_the_pooled_report(self, cases_file: Path) -> None:
        code, out = cli("--cross-validate", str(cases_file), "--folds", "2")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == "cross-validation: 2 folds, seed 0, 10 inquiries"
        # Lines 4 and 9, and 5 and 10, are paraphrase families: each stays in one fold.
        folds = [line.split()[:2] for line in lines[3:5]]
        assert [fold for fold, _ in folds] == ["1", "2"]
        assert sum(int(size) for _, size in folds) == 10
        assert "inquiries: 10" in out  # pooled: every line once

    @pytest.mark.parametrize("folds", ["1", "11"])
    def test_impossible_fold_counts_are_refused(self, cases_file: Path, folds: str) -> None:
        code, out = cli("--cross-validate", str(cases_file), "--folds", folds)
        assert code == 2
        assert out.startswith("error: ")
        assert "fold" in out

    def test_a_file_without_labels_is_refused(self, tmp_path: Path) -> None:
        path = write(tmp_path / "plain.jsonl", [{"message": "hi"}])
        code, out = cli("--cross-validate", str(path))
        assert code == 2
        assert "no usable labelled lines" in out
