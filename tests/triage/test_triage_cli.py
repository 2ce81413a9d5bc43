"""`inquiry triage`: JSON Lines in, JSON Lines out, and --eval reports."""

import io
import json
from pathlib import Path

from inquiry.triage.cli import run


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = run(argv, io.StringIO(stdin), out)
    return code, out.getvalue()


class TestStream:
    def test_one_result_line_per_input(self) -> None:
        lines = [
            {"subject": "Cost", "message": "How much is one infusion?", "topic": "billing"},
            {"message": "je veux mourir", "id": 7},
            {"message": "running late"},
        ]
        code, out = run_cli([], "\n".join(json.dumps(line) for line in lines) + "\n\n")
        results = [json.loads(line) for line in out.splitlines()]
        assert code == 0
        assert [r["topic"] for r in results] == ["billing", "crisis", "appointment"]
        assert results[1] == {
            "line": 2,
            "id": 7,
            "topic": "crisis",
            "priority": "urgent",
            "crisis": True,
            "language": "fr",
            "reasons": ["wish_dead: 'veux mourir' \u2014 present"],
        }
        assert results[0]["reasons"]

    def test_bad_lines_are_reported_and_the_batch_goes_on(self) -> None:
        stdin = (
            '{"message": "hello"\n[1]\n{"message": 3}\n'
            '{"message": "x", "topic": "pizza"}\n{"message": "receipt please"}\n'
        )
        code, out = run_cli([], stdin)
        results = [json.loads(line) for line in out.splitlines()]
        assert code == 1
        assert [r.get("line") for r in results] == [1, 2, 3, 4, 5]
        assert all("error" in r for r in results[:4])
        assert "invalid JSON" in results[0]["error"]
        assert "not a topic" in results[3]["error"]
        assert results[4]["topic"] == "billing"

    def test_unreadable_rules_stop_with_a_message(self, tmp_path: Path) -> None:
        code, out = run_cli(["--rules", str(tmp_path / "missing.json")], "")
        assert code == 2
        assert "missing.json" in out


class TestEval:
    def test_prints_accuracy_confusion_recall_and_spam(self, tmp_path: Path) -> None:
        path = tmp_path / "cases.jsonl"
        rows = [
            {"message": "I want to end my life", "topic": "crisis", "lang": "en"},
            {"message": "J'ai des idées noires", "topic": "crisis", "lang": "fr"},
            {"message": "Can I get a receipt for my last payment?", "topic": "billing"},
            {"message": "Cheap SEO backlinks for your site, rank #1 on Google", "topic": "spam"},
            {"message": "hello?", "expected": "general", "visitor_topic": "general"},
        ]
        path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
        code, out = run_cli(["--eval", str(path)])
        assert code == 0
        assert "accuracy: 1.000 (5/5)" in out
        assert "crisis recall: 1.000 (2/2)" in out
        assert "crisis recall [fr]: 1.000 (1/1)" in out
        assert "crisis raised on non-crisis: 0.000 (0/3)" in out
        assert "real inquiries marked spam: 0" in out
        assert "confusion (rows: expected, columns: predicted)" in out

    def test_lists_misses_and_bad_lines(self, tmp_path: Path) -> None:
        path = tmp_path / "cases.jsonl"
        path.write_text('{"message": "hello?", "topic": "billing"}\nnot json\n', encoding="utf-8")
        code, out = run_cli(["--eval", str(path)])
        assert code == 1
        assert "1: billing -> general" in out
        assert "cases.jsonl:2: invalid JSON" in out
