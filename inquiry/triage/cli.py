"""`inquiry triage`: triage JSON Lines from stdin, or evaluate the rules on a labelled file."""

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from inquiry.triage.classify import triage
from inquiry.triage.evaluate import LabelledInquiry, evaluate, format_report
from inquiry.triage.rules import Rules, RulesError, load_rules
from inquiry.triage.taxonomy import Topic


class _BadLine(ValueError):
    """One input line cannot be triaged; reported for that line, the batch goes on."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inquiry triage",
        description=(
            "Triage inquiries given as JSON Lines on stdin "
            '({"subject", "message", "topic"}; subject and topic optional), '
            "one JSON result line per input."
        ),
    )
    parser.add_argument(
        "--eval",
        dest="eval_path",
        type=Path,
        metavar="FILE",
        help="labelled JSON Lines (expected topic in 'expected' or 'topic', the form's "
        "choice in 'visitor_topic'): print accuracy, confusion, crisis recall, spam mistakes",
    )
    parser.add_argument("--rules", type=Path, metavar="PATH", help="rules file to use")
    return parser


def _text(record: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _BadLine(f"'{key}' must be a string")
    return value


def _topic(record: dict[str, Any], key: str) -> Topic | None:
    value = record.get(key)
    if value in (None, ""):
        return None
    try:
        return Topic(value)
    except ValueError:
        raise _BadLine(f"'{key}' is not a topic: {value!r}") from None


def _records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | _BadLine]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, _BadLine(f"invalid JSON: {exc.msg}")
            continue
        if isinstance(record, dict):
            yield number, record
        else:
            yield number, _BadLine("each line must be a JSON object")


def _write(stdout: TextIO, payload: dict[str, Any]) -> None:
    stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _stream(rules: Rules, stdin: TextIO, stdout: TextIO) -> int:
    failed = False
    for number, record in _records(stdin):
        try:
            if isinstance(record, _BadLine):
                raise record
            result = triage(
                _text(record, "subject"),
                _text(record, "message", required=True),
                _topic(record, "topic"),
                rules=rules,
            )
        except _BadLine as exc:
            failed = True
            _write(stdout, {"line": number, "error": str(exc)})
            continue
        payload: dict[str, Any] = {"line": number}
        if "id" in record:
            payload["id"] = record["id"]
        payload |= {
            "topic": result.topic.value,
            "priority": result.priority.value,
            "crisis": result.crisis,
            "language": result.language,
            "reasons": list(result.reasons),
        }
        _write(stdout, payload)
    return 1 if failed else 0


def _labelled(number: int, record: dict[str, Any]) -> LabelledInquiry:
    expected = _topic(record, "expected") or _topic(record, "topic")
    if expected is None:
        raise _BadLine("missing expected topic ('expected' or 'topic')")
    language = record.get("lang")
    return LabelledInquiry(
        line=number,
        subject=_text(record, "subject"),
        message=_text(record, "message", required=True),
        expected=expected,
        visitor_topic=_topic(record, "visitor_topic"),
        language=language if isinstance(language, str) else None,
    )


def _evaluate(rules: Rules, path: Path, stdout: TextIO) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        stdout.write(f"error: cannot read {path}: {exc.strerror or exc}\n")
        return 2
    cases: list[LabelledInquiry] = []
    errors: list[str] = []
    for number, record in _records(lines):
        try:
            if isinstance(record, _BadLine):
                raise record
            cases.append(_labelled(number, record))
        except _BadLine as exc:
            errors.append(f"{path}:{number}: {exc}")
    stdout.write("\n".join(format_report(evaluate(cases, rules))) + "\n")
    if errors:
        stdout.write("\nskipped lines:\n" + "\n".join(errors) + "\n")
    return 1 if errors else 0


def run(argv: list[str], stdin: TextIO, stdout: TextIO) -> int:
    """Run `inquiry triage` with argv (after the subcommand); return the exit code."""
    args = _parser().parse_args(argv)
    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        stdout.write(f"error: {exc}\n")
        return 2
    if args.eval_path is not None:
        return _evaluate(rules, args.eval_path, stdout)
    return _stream(rules, stdin, stdout)
