"""The triage function: topic, priority and crisis flag of one inquiry, with the reasons.

Crisis first: a risk concept that its context does not cancel makes the inquiry a crisis, and
then nothing else is computed. Otherwise the learned model reads the n-grams of the text with
what the rules found (concepts and their context, topic terms, spam signals, links) and gives a
probability per topic: confident crisis is a crisis, some risk is reviewed today (clinical, high),
and the rest is the most probable topic, the visitor's choice counting as a small bonus.
"""

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from inquiry.triage.concepts import Mention
from inquiry.triage.features import ngrams, words
from inquiry.triage.language import Language, detect_language
from inquiry.triage.rules import Rules, default_rules
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC, VISITOR_TOPICS, Priority, Topic
from inquiry.triage.text import fold

# Counted on the lower-cased raw text: folding puts spaces inside addresses.
_URL = re.compile(r"(?:https?://|www[.])[^\s]+")
_DOMAIN = re.compile(r"[.](?:com|net|org|biz|info|xyz|ru|io|co|ca|example)(?![a-z0-9])")
# Enough evidence for staff without burying the deciding phrase.
_MAX_REASON_TERMS = 3
POSSIBLE_RISK = "possible risk: review today"
# Spam the model finds likely, backed by two points of advertising signals.
_LIKELY_SPAM = 0.6
NO_TERMS = "no topic terms matched"
# Context that says the words do not apply at all, rather than framing them (past, question).
_DENIALS = frozenset({"negation", "idiom"})
# Topics a hint or the model may settle on once crisis is ruled out.
_RANKED = (
    Topic.CLINICAL,
    Topic.NEW_PATIENT,
    Topic.APPOINTMENT,
    Topic.BILLING,
    Topic.REFERRAL,
    Topic.GENERAL,
    Topic.SPAM,
)


@dataclass(frozen=True, slots=True)
class TriageResult:
    topic: Topic
    priority: Priority
    crisis: bool
    language: Language
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rules find in one inquiry: the input of the decision and of the model."""

    text: str
    language: Language
    mentions: list[Mention]
    topic_terms: dict[Topic, tuple[float, list[str]]]
    spam_score: float
    spam_terms: list[str]
    links: int


def _score(weights: dict[str, float], matches: list[re.Match[str]]) -> tuple[float, list[str]]:
    """Sum the weight of each distinct term found; repeating a word adds nothing."""
    seen: dict[str, float] = {}
    for match in matches:
        phrase = match.group()[1:]
        if phrase not in seen:
            seen[phrase] = weights[match.lastgroup or ""]
    ranked = sorted(seen, key=lambda phrase: -seen[phrase])
    return sum(seen.values()), ranked


def _links(original: str, own_sites: tuple[str, ...]) -> int:
    lowered = original.lower()
    # The regex tries each place, so it runs only on a message that names one of the sites.
    if any(site in lowered for site in own_sites):
        lowered = _own_site_links(own_sites).sub(" ", lowered)
    urls = len(_URL.findall(lowered)) if "http" in lowered or "www." in lowered else 0
    return max(urls, len(_DOMAIN.findall(lowered)))


@lru_cache(maxsize=4)
def _own_site_links(sites: tuple[str, ...]) -> re.Pattern[str]:
    """Links to these sites or their subdomains, with any path, and addresses at them."""
    hosts = "|".join(re.escape(site) for site in sites)
    return re.compile(rf"(?:https?://)?(?:[a-z0-9-]+[.@])*(?:{hosts})(?![a-z0-9-])[^\s]*")


def read(subject: str, message: str, rules: Rules) -> Reading:
    """Normalise the inquiry once and run every rule over it."""
    # A full stop keeps a phrase from running across the subject and the message.
    original = f"{subject} . {message}" if subject else message
    folded = fold(original)
    language = detect_language(folded, original)
    # The leading space lets a phrase at the very start match like any other word.
    text = " " + rules.concepts.normalise(folded)
    concept_places, topic_places, context_places = rules.candidates.find(text)
    mentions = rules.concepts.mentions(text, concept_places, context_places)
    by_category: list[list[re.Match[str]]] = [[] for _ in rules.scanner.categories]
    for category, match in rules.scanner.find(text, topic_places):
        by_category[category].append(match)
    topic_terms = {
        topic: _score(matcher.weights, matches)
        for (topic, matcher), matches in zip(rules.topics, by_category, strict=False)
        if matches
    }
    spam_score, spam_terms = _score(rules.spam.weights, by_category[-1])
    links = min(_links(original, rules.own_sites), rules.max_links_counted)
    return Reading(
        text=text,
        language=language,
        mentions=mentions,
        topic_terms=topic_terms,
        spam_score=spam_score + links * rules.link_weight,
        spam_terms=spam_terms,
        links=links,
    )


def model_features(reading: Reading, hint: Topic | None = None) -> set[str]:
    """The model's input: the text's n-grams and, as named signals, what the rules found and
    the topic the visitor chose."""
    return ngrams(reading.text) | signals(reading, hint)


def signals(reading: Reading, hint: Topic | None = None) -> set[str]:
    """The model's features for what the rules found and the topic the visitor chose."""
    features = {_length_feature(reading.text)}
    if hint is not None:
        features.add(f"@hint {hint}")
    for mention in reading.mentions:
        state = "counted" if mention.counts else "cancelled"
        features.add(f"@concept {mention.concept} {state}")
        features.update(f"@context {effect}" for effect in mention.effects)
    for topic, (score, _) in reading.topic_terms.items():
        features.add(f"@topic {topic}")
        if score >= 3:
            features.add(f"@topic {topic} strong")
    if reading.spam_score:
        features.add(f"@spam {min(int(reading.spam_score), 6)}")
    if reading.links:
        features.add("@links")
    return features


# Word counts that start each length band. A two-word message carries little evidence: with
# its length as a feature the model learns how much a short message says, instead of leaving
# it to the bias, which favours the topic whose lines are often short.
_LENGTH_BANDS = (0, 3, 6, 12, 25, 60)


def _length_feature(text: str) -> str:
    words = text.count(" ")  # the normalised text has one space before each word
    band = max(start for start in _LENGTH_BANDS if words >= start)
    return f"@length {band}+"


def _quoted(label: str, phrases: list[str]) -> list[str]:
    return [f'{label}: "{phrase}"' for phrase in dict.fromkeys(phrases)][:_MAX_REASON_TERMS]


def reason_categories(reasons: list[str]) -> list[str]:
    """The reasons without the visitor's words they quote, for mail, which must carry no
    health information: "ideation — present", not "ideation: 'want to die' — present";
    "clinical term", not the term."""
    return list(dict.fromkeys(_category(str(reason)) for reason in reasons))


def _category(reason: str) -> str:
    return _TERM_QUOTE.sub("", _CONCEPT_QUOTE.sub("\\1 \u2014 ", reason))


# A term's reason: 'label: "words"'; a concept's: "concept: 'words' — context" (the words may
# hold quotes of their own, so the match runs to the last separator).
_TERM_QUOTE = re.compile(r': ".*"$', re.DOTALL)
_CONCEPT_QUOTE = re.compile(r"^([a-z_]+): '.*' \u2014 ", re.DOTALL)


def _hint_reason(hint: Topic | None, topic: Topic) -> list[str]:
    if hint is None:
        return []
    if hint == topic:
        return [f"visitor chose: {hint}"]
    return [f"visitor chose: {hint} (overridden by the message)"]


def _result(topic: Topic, language: Language, reasons: list[str]) -> TriageResult:
    priority = PRIORITY_OF_TOPIC[topic]
    return TriageResult(topic, priority, topic == Topic.CRISIS, language, tuple(reasons))


def _topic(
    rules: Rules,
    probabilities: dict[Topic, float],
    reading: Reading,
    hint: Topic | None,
) -> tuple[Topic, float]:
    """The most probable topic but crisis; the hint is a bonus, never lowering clinical."""
    spam_score = reading.spam_score
    has_terms = bool(reading.topic_terms)
    ranked = sorted(_RANKED, key=lambda topic: -probabilities[topic])
    best = ranked[0]
    # Quarantining a real visitor is worse than letting an advert through: spam needs the
    # model to be sure, or the rules' advertising signals as well.
    sure = probabilities[best] >= rules.spam_model_threshold
    signalled = spam_score >= rules.spam_threshold
    likely = probabilities[best] >= _LIKELY_SPAM and spam_score >= 2
    if best == Topic.SPAM and not (sure or signalled or likely):
        best = ranked[1]
    if hint is not None and best not in (Topic.CLINICAL, Topic.SPAM):
        bonus = math.exp(rules.hint_bonus)
        # General is the fallback: the visitor's choice says more. With no topic term in the
        # message the choice stands too, unless the model is sure.
        if (
            best == Topic.GENERAL
            or probabilities[hint] * bonus > probabilities[best]
            or (not has_terms and probabilities[best] < rules.crisis_threshold)
        ):
            best = hint
    return best, probabilities[best]


def triage(
    subject: str,
    message: str,
    visitor_topic: Topic | None = None,
    *,
    rules: Rules | None = None,
) -> TriageResult:
    """Triage one inquiry: pure and deterministic for a given rules object."""
    rules = rules or default_rules()
    hint = visitor_topic if visitor_topic in VISITOR_TOPICS else None
    reading = read(subject, message, rules)
    language = reading.language
    counted = [mention for mention in reading.mentions if mention.counts]
    cancelled = [mention.reason() for mention in reading.mentions if not mention.counts]

    # Crisis first, and nothing can outrank it: not the form's topic, not links, not spam terms.
    if any(mention.level == "crisis" for mention in counted):
        reasons = [mention.reason() for mention in counted if mention.level == "crisis"]
        reasons = reasons[:_MAX_REASON_TERMS] + _hint_reason(hint, Topic.CRISIS) + cancelled
        return _result(Topic.CRISIS, language, reasons)

    text_words = words(reading.text)
    if not text_words:
        # No word at all (empty, emoji, punctuation): nothing for the model to read.
        reasons = [NO_TERMS, *_hint_reason(hint, hint or Topic.GENERAL), *cancelled]
        return _result(hint or Topic.GENERAL, language, reasons)
    # The same as rules.model.probabilities(model_features(reading, hint)), faster.
    probabilities = rules.model.text_probabilities(text_words, signals(reading, hint))
    risk = [mention.reason() for mention in counted]
    crisis_p = probabilities[Topic.CRISIS]
    threshold = rules.crisis_threshold
    if cancelled and not counted:
        denied = any(_DENIALS.intersection(mention.effects) for mention in reading.mentions)
        threshold = rules.denied_threshold if denied else rules.cancelled_threshold
    if crisis_p >= threshold:
        reasons = [f"learned model: crisis wording ({crisis_p:.2f})", *risk, *cancelled]
        return _result(Topic.CRISIS, language, reasons + _hint_reason(hint, Topic.CRISIS))
    # Doubt escalates: risk or distress short of a crisis is read by a clinician today.
    if risk or crisis_p >= rules.risk_threshold:
        reasons = [POSSIBLE_RISK, *risk, f"learned model: crisis {crisis_p:.2f}", *cancelled]
        return _result(Topic.CLINICAL, language, reasons + _hint_reason(hint, Topic.CLINICAL))

    topic, probability = _topic(rules, probabilities, reading, hint)
    if topic == Topic.SPAM:
        reasons = _quoted("spam signal", reading.spam_terms)
        if reading.links:
            reasons.append(f"links: {reading.links}")
        reasons.append(f"learned model: spam ({probability:.2f})")
        return _result(Topic.SPAM, language, reasons + cancelled)
    terms = reading.topic_terms.get(topic, (0.0, []))[1]
    if terms:
        reasons = _quoted(f"{topic} term", terms)
    elif not reading.topic_terms:
        reasons = [NO_TERMS]
    else:
        reasons = []
    if topic != Topic.GENERAL or reading.topic_terms:
        reasons.append(f"learned model: {topic} ({probability:.2f})")
    return _result(topic, language, reasons + _hint_reason(hint, topic) + cancelled)
