"""Benchmark the triage function alone: inquiries per second on one core.

Run: .venv/bin/python tests/bench/triage_bench.py [--seconds N]
Prints numbers; it is not a timed test, so a slow CI machine cannot fail the suite.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

from inquiry.triage import load_rules, triage
from inquiry.triage.taxonomy import Topic

LABELLED = Path(__file__).resolve().parents[1] / "triage" / "labelled.jsonl"
TARGET_CHARS = 300


def typical_messages() -> list[tuple[str, str, Topic | None]]:
    """Build ~300-character inquiries by joining labelled messages of the same topic."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    by_topic: dict[str, list[str]] = {}
    for row in rows:
        by_topic.setdefault(row["topic"], []).append(row["message"])
    inquiries: list[tuple[str, str, Topic | None]] = []
    for topic, messages in by_topic.items():
        for start in range(len(messages)):
            text = ""
            step = 0
            while len(text) < TARGET_CHARS:
                text += messages[(start + step) % len(messages)] + " "
                step += 1
            hint = Topic(topic) if topic not in ("crisis", "spam") else None
            inquiries.append(("Question", text[:TARGET_CHARS], hint))
    return inquiries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time to spend per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    rules = load_rules()
    load_ms = (time.perf_counter() - started) * 1000
    inquiries = typical_messages()
    for subject, message, hint in inquiries:  # warm up
        triage(subject, message, hint, rules=rules)

    rates = []
    for _ in range(args.rounds):
        calls = 0
        deadline = time.perf_counter() + args.seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            for subject, message, hint in inquiries:
                triage(subject, message, hint, rules=rules)
            calls += len(inquiries)
        rates.append(calls / (time.perf_counter() - started))

    short = [("", "running late", None)] * 1000
    started = time.perf_counter()
    for subject, message, hint in short:
        triage(subject, message, hint, rules=rules)
    short_us = (time.perf_counter() - started) / len(short) * 1e6

    mean_chars = statistics.mean(len(m) for _, m, _ in inquiries)
    best = max(rates)
    print(f"rules load + compile: {load_ms:.1f} ms")
    print(f"messages: {len(inquiries)} distinct, {mean_chars:.0f} characters on average")
    print(f"inquiries/s (median of {args.rounds}): {statistics.median(rates):,.0f}")
    print(f"inquiries/s (best): {best:,.0f}")
    print(f"us per call (median): {1e6 / statistics.median(rates):.1f}")
    print(f"us per call, short message: {short_us:.1f}")


if __name__ == "__main__":
    main()
