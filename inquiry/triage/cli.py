"""`inquiry triage`: triage JSON Lines from stdin, evaluate on a labelled file, cross-validate."""

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from inquiry.triage.classify import triage
from inquiry.triage.crossval import (
    DEFAULT_FOLDS,
    DEFAULT_SEED,
    CrossValidationError,
    cross_validate,
)
from inquiry.triage.evaluate import LABEL_FIELDS, evaluate
from inquiry.triage.labelled import (
    EXPECTED_KEYS,
    BadLine,
    LabelledFile,
    read_labelled,
    records,
    text_field,
    topic_field,
)
from inquiry.triage.report import (
    cross_validation_json,
    evaluation_json,
    format_cross_validation,
    format_report,
)
from inquiry.triage.rules import Rules, RulesError, default_rules, load_rules

_EPILOG = """\
Labelled files are JSON Lines in the format of docs/triage.md: 'subject', 'message',
optional 'visitor_topic'; the expected 'topic', 'priority', 'crisis', 'language'; and
annotations such as 'category', 'style' (a list) and 'source'. Older files with 'expected'
and 'lang' are read too.

--cross-validate splits the file into K folds (stratified by topic and language, a
paraphrase kept with the line it rewords), trains the learned model on all folds but one and
evaluates the rules with that model on the held-out fold. Training needs scikit-learn
(pip install -e '.[train]'); triage itself does not.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inquiry triage",
        description=(
            "Triage inquiries given as JSON Lines on stdin\n"
            '({"subject", "message", "topic"}; subject and topic optional), one JSON result\n'
            "line per input; or measure triage on a labelled file."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--eval",
        dest="eval_path",
        type=Path,
        metavar="FILE",
        help="labelled JSON Lines: print, overall and per language, topic accuracy and "
        "confusion, crisis recall with each missed crisis, false alarms with each one, real "
        "inquiries marked spam, and priority agreement where labelled",
    )
    mode.add_argument(
        "--cross-validate",
        dest="cv_path",
        type=Path,
        metavar="FILE",
        help="k-fold cross-validation on a labelled corpus: the model trained on the other "
        "folds, figures per fold and pooled (needs scikit-learn)",
    )
    parser.add_argument(
        "--by",
        metavar="FIELD",
        help="the same figures per value of FIELD (category, style, source, or any key of "
        "the file; a list counts a line under each item; 'paraphrase:12' counts as "
        "'paraphrase')",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--folds", type=int, metavar="K", help=f"folds to cross-validate (default {DEFAULT_FOLDS})"
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help=f"seed of the fold split (default {DEFAULT_SEED})"
    )
    parser.add_argument("--rules", type=Path, metavar="PATH", help="rules file to use")
    return parser


def _write(stdout: TextIO, payload: dict[str, Any]) -> None:
    stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _stream(rules: Rules, stdin: TextIO, stdout: TextIO) -> int:
    failed = False
    for number, record in records(stdin):
        try:
            if isinstance(record, BadLine):
                raise record
            result = triage(
                text_field(record, "subject"),
                text_field(record, "message", required=True),
                topic_field(record, "topic"),
                rules=rules,
            )
        except BadLine as exc:
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


class _Refused(Exception):
    """The file cannot be measured as asked: one message, exit status 2."""


def _read(path: Path, by: str | None) -> LabelledFile:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise _Refused(f"cannot read {path}: {reason}") from None
    labelled = read_labelled(lines)
    if not labelled.cases:
        found = "".join(f"\n  {path}:{line}: {error}" for line, error in labelled.skipped[:5])
        raise _Refused(f"{path} has no usable labelled lines: {EXPECTED_KEYS}{found}")
    if by is not None and by not in LABEL_FIELDS:
        present = {key for case in labelled.cases for key in case.annotations}
        if by not in present:
            fields = ", ".join(sorted(present) + list(LABEL_FIELDS))
            raise _Refused(f"no line of {path} has '{by}'; --by takes one of: {fields}")
    return labelled


def _skipped(path: Path, labelled: LabelledFile, args: argparse.Namespace) -> list[str]:
    if not labelled.skipped or args.json:
        return []
    return ["", "skipped lines:", *(f"{path}:{line}: {error}" for line, error in labelled.skipped)]


def _measure(rules: Rules, args: argparse.Namespace, stdout: TextIO) -> int:
    path: Path = args.eval_path or args.cv_path
    labelled = _read(path, args.by)
    document: dict[str, Any] = {"file": str(path)}
    if args.eval_path is not None:
        evaluation = evaluate(labelled.cases, rules, by=args.by)
        document |= evaluation_json(evaluation)
        lines = format_report(evaluation)
    else:
        try:
            import sklearn  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise _Refused(
                "--cross-validate trains the model: install scikit-learn "
                "(pip install -e '.[train]')"
            ) from None
        from inquiry.triage.train import learned_trainer

        try:
            run = cross_validate(
                labelled.cases,
                learned_trainer(rules),
                folds=DEFAULT_FOLDS if args.folds is None else args.folds,
                seed=DEFAULT_SEED if args.seed is None else args.seed,
                by=args.by,
            )
        except CrossValidationError as exc:
            raise _Refused(str(exc)) from None
        document |= {"trainer": "rules + model trained per fold", **cross_validation_json(run)}
        lines = format_cross_validation(run)
    if args.json:
        document["skipped"] = [{"line": line, "error": error} for line, error in labelled.skipped]
        stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        stdout.write("\n".join(lines + _skipped(path, labelled, args)) + "\n")
    return 1 if labelled.skipped else 0


def run(argv: list[str], stdin: TextIO, stdout: TextIO) -> int:
    """Run `inquiry triage` with argv (after the subcommand); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    measuring = args.eval_path is not None or args.cv_path is not None
    for flag, given in (("--by", args.by), ("--json", args.json or None)):
        if given is not None and not measuring:
            parser.error(f"{flag} goes with --eval or --cross-validate")
    for flag, value in (("--folds", args.folds), ("--seed", args.seed)):
        if value is not None and args.cv_path is None:
            parser.error(f"{flag} goes with --cross-validate")
    try:
        rules = load_rules(args.rules) if args.rules else default_rules()
    except RulesError as exc:
        stdout.write(f"error: {exc}\n")
        return 2
    if not measuring:
        return _stream(rules, stdin, stdout)
    try:
        return _measure(rules, args, stdout)
    except _Refused as exc:
        stdout.write(f"error: {exc}\n")
        return 2
