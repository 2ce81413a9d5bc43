"""Record triage's decisions over many texts, or compare them with a recording.

Run before and after a change to triage's speed, which must not change a single decision:
  .venv/bin/python tests/bench/triage_identity.py --write /tmp/before.jsonl
  .venv/bin/python tests/bench/triage_identity.py --compare /tmp/before.jsonl
Each line holds the topic, priority, crisis flag, language and reasons, and, exactly (repr), the
model's probabilities, the concept mentions and the topic terms found. The texts are the corpus,
the labelled and the held-out sets, the benchmark's messages, and texts generated from them
with a fixed seed: joined, cut, upper-cased, stripped of punctuation, with each visitor topic.
"""

import argparse
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inquiry.triage import load_rules, triage  # noqa: E402
from inquiry.triage.classify import model_features, read  # noqa: E402
from inquiry.triage.rules import Rules  # noqa: E402
from inquiry.triage.taxonomy import VISITOR_TOPICS, Topic  # noqa: E402
from tests.bench.triage_bench import typical_messages  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "triage"
SOURCES = ("corpus.jsonl", "labelled.jsonl", "heldout.jsonl")
_PUNCTUATION = re.compile(r"[^\w\s]")
_HINTS: list[Topic | None] = [None, *sorted(VISITOR_TOPICS)]


def _rows() -> list[tuple[str, str, Topic | None]]:
    rows: list[tuple[str, str, Topic | None]] = []
    for name in SOURCES:
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            hint = row.get("visitor_topic")
            rows.append((row.get("subject", ""), row["message"], Topic(hint) if hint else None))
    return rows


def texts(generated: int) -> Iterator[tuple[str, str, Topic | None]]:
    """Every source line and benchmark message, then `generated` texts made from them."""
    rows = _rows()
    yield from rows
    yield from typical_messages()
    messages = [message for _, message, _ in rows]
    pick = random.Random(20261205)
    for _ in range(generated):
        text = " ".join(pick.sample(messages, pick.randint(1, 4)))
        cut = pick.random()
        if cut < 0.3:
            text = text[pick.randint(0, len(text)) :]
        elif cut < 0.6:
            text = text[: pick.randint(0, len(text))]
        shape = pick.random()
        if shape < 0.2:
            text = text.upper()
        elif shape < 0.4:
            text = _PUNCTUATION.sub("", text)
        elif shape < 0.5:
            text = _PUNCTUATION.sub(" ", text.lower())
        subject = pick.choice(["", "", "Question", "URGENT", "rdv", messages[0][:20]])
        yield subject, text, pick.choice(_HINTS)


def decision(subject: str, message: str, hint: Topic | None, rules: Rules) -> dict[str, object]:
    result = triage(subject, message, hint, rules=rules)
    reading = read(subject, message, rules)
    probabilities = rules.model.probabilities(model_features(reading, hint))
    return {
        "subject": subject,
        "message": message,
        "hint": hint,
        "topic": result.topic,
        "priority": result.priority,
        "crisis": result.crisis,
        "language": result.language,
        "reasons": list(result.reasons),
        "probabilities": {topic: repr(value) for topic, value in probabilities.items()},
        "mentions": [repr(mention) for mention in reading.mentions],
        "terms": repr((reading.topic_terms, reading.spam_score, reading.spam_terms)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="record the decisions in this file")
    action.add_argument("--compare", type=Path, help="compare the decisions with this file")
    parser.add_argument("--generated", type=int, default=30_000, help="generated texts")
    args = parser.parse_args()
    rules = load_rules()
    lines = [
        json.dumps(decision(subject, message, hint, rules), ensure_ascii=False)
        for subject, message, hint in texts(args.generated)
    ]
    if args.write:
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sys.stdout.write(f"{len(lines)} decisions written to {args.write}\n")
        return 0
    recorded = args.compare.read_text(encoding="utf-8").splitlines()
    differing = [i for i, (a, b) in enumerate(zip(recorded, lines, strict=False)) if a != b]
    if len(recorded) != len(lines):
        sys.stdout.write(f"{len(recorded)} recorded, {len(lines)} now\n")
        return 1
    for index in differing[:5]:
        sys.stdout.write(f"differs:\n  {recorded[index]}\n  {lines[index]}\n")
    sys.stdout.write(f"{len(lines)} texts compared, {len(differing)} differ\n")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
