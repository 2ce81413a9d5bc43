"""The triage function: topic, priority and crisis flag of one inquiry, with the reasons."""

import re
from dataclasses import dataclass

from inquiry.triage.language import Language, detect_language
from inquiry.triage.rules import Rules, default_rules
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, VISITOR_TOPICS, Priority, Topic
from inquiry.triage.text import fold

# Counted on the lower-cased raw text: folding puts spaces inside addresses.
_URL = re.compile(r"(?:https?://|www[.])[^\s]+")
_DOMAIN = re.compile(r"[.](?:com|net|org|biz|info|xyz|ru|io|co|ca|example)(?![a-z0-9])")
# Enough evidence for staff without burying the deciding phrase.
_MAX_REASON_TERMS = 3


@dataclass(frozen=True, slots=True)
class TriageResult:
    topic: Topic
    priority: Priority
    crisis: bool
    language: Language
    reasons: tuple[str, ...]


def _score(weights: dict[str, float], matches: list[re.Match[str]]) -> tuple[float, list[str]]:
    """Sum the weight of each distinct term found; repeating a word adds nothing."""
    seen: dict[str, float] = {}
    for match in matches:
        phrase = match.group()[1:]
        if phrase not in seen:
            seen[phrase] = weights[match.lastgroup or ""]
    ranked = sorted(seen, key=lambda phrase: -seen[phrase])
    return sum(seen.values()), ranked


def _crisis_phrases(
    rules: Rules, text: str, hits: list[re.Match[str]]
) -> tuple[list[str], list[str]]:
    """Return crisis phrases that count and those cancelled by a denial or someone else's past."""
    if not hits or rules.crisis_exclusions is None:
        return [match.group()[1:] for match in hits], []
    spans = [(m.start(), m.end(), m.group()[1:]) for m in rules.crisis_exclusions.finditer(text)]
    counted: list[str] = []
    cancelled: list[str] = []
    for hit in hits:
        start, end = hit.span()
        cover = next((s for s in spans if s[0] < end and start < s[1]), None)
        if cover is None:
            counted.append(hit.group()[1:])
        elif cover[2] not in cancelled:
            cancelled.append(cover[2])
    return counted, cancelled


def _quoted(label: str, phrases: list[str]) -> list[str]:
    return [f'{label}: "{phrase}"' for phrase in dict.fromkeys(phrases)][:_MAX_REASON_TERMS]


def reason_categories(reasons: list[str]) -> list[str]:
    """The reasons without the visitor's words they quote: 'crisis phrase', not the phrase
    (for mail, which must carry no health information)."""
    return list(dict.fromkeys(_QUOTE.sub("", str(reason)) for reason in reasons))


_QUOTE = re.compile(r': ".*"$', re.DOTALL)


def _hint_reason(hint: Topic | None, topic: Topic) -> list[str]:
    if hint is None:
        return []
    if hint == topic:
        return [f"visitor chose: {hint}"]
    return [f"visitor chose: {hint} (overridden by the message)"]


def triage(
    subject: str,
    message: str,
    visitor_topic: Topic | None = None,
    *,
    rules: Rules | None = None,
) -> TriageResult:
    """Triage one inquiry: pure and deterministic for a given rules object."""
    rules = rules or default_rules()
    # A full stop keeps a phrase from running across the subject and the message.
    original = f"{subject} . {message}" if subject else message
    folded = fold(original)
    language = detect_language(folded, original)
    # The leading space lets a phrase at the very start match like any other word.
    text = " " + folded
    hint = visitor_topic if visitor_topic in VISITOR_TOPICS else None

    # One pass finds every category's matches: crisis is 0, topics 1.., spam last.
    by_category: list[list[re.Match[str]]] = [[] for _ in rules.scanner.categories]
    for category, match in rules.scanner.find(text):
        by_category[category].append(match)

    # Crisis first, and nothing can outrank it: not the form's topic, not links, not spam terms.
    crisis, cancelled = _crisis_phrases(rules, text, by_category[0])
    not_counted = _quoted("not counted (denial or someone else's past)", cancelled)
    if crisis:
        reasons = _quoted("crisis phrase", crisis) + _hint_reason(hint, Topic.CRISIS) + not_counted
        return TriageResult(Topic.CRISIS, Priority.URGENT, True, language, tuple(reasons))

    best_topic: Topic | None = None
    best_score = 0.0
    best_terms: list[str] = []
    best_key = (0.0, 0.0, 0)
    for (topic, matcher), matches in zip(rules.topics, by_category[1:], strict=False):
        score, terms = _score(matcher.weights, matches) if matches else (0.0, [])
        bonus = rules.visitor_hint_weight if topic == hint else 0.0
        # Highest score wins; on a tie the visitor's choice, then the rules' tie order.
        key = (score + bonus, 1.0 if topic == hint else 0.0, -rules.tie_rank[topic])
        if score > best_score:
            best_score = score
        if score + bonus > 0 and (best_topic is None or key > best_key):
            best_topic, best_terms, best_key = topic, terms, key

    spam_score, spam_terms = _score(rules.spam.weights, by_category[-1])
    lowered = original.lower()
    urls = len(_URL.findall(lowered)) if "http" in lowered or "www." in lowered else 0
    found = max(urls, len(_DOMAIN.findall(lowered)))
    links = min(found, rules.max_links_counted)
    spam_score += links * rules.link_weight
    # Spam needs clear advertising signals and more of them than any real topic has:
    # quarantining a real visitor is worse than letting an advert through.
    if spam_score >= rules.spam_threshold and spam_score > best_score:
        reasons = _quoted("spam signal", spam_terms)
        if links:
            reasons.append(f"links: {links}")
        return TriageResult(Topic.SPAM, Priority.LOW, False, language, tuple(reasons + not_counted))

    if best_topic is None:
        topic = Topic.GENERAL
        reasons = ["no topic terms matched"]
    else:
        topic = best_topic
        reasons = _quoted(f"{topic} term", best_terms)
    reasons = reasons + _hint_reason(hint, topic) + not_counted
    return TriageResult(topic, PRIORITY_OF_TOPIC[topic], False, language, tuple(reasons))
