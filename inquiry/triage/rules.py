"""Load, validate and compile the clinic-editable triage rules file."""

import hashlib
import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from inquiry.triage.concepts import ConceptMatcher, build_concept_matcher
from inquiry.triage.model import DEFAULT_MODEL_PATH, LinearModel, ModelError, load_model
from inquiry.triage.patterns import alternation, split_top
from inquiry.triage.scan import Candidates, Scanner, build_candidates
from inquiry.triage.taxonomy import VISITOR_TOPICS, Topic

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.json")

# Group names and backreferences would break once terms are joined into one regex.
_FORBIDDEN_SYNTAX = re.compile(r"\(\?P[<=]|\\[1-9]|\\g<")
# Terms match whole words so "pay" does not fire inside "paypal" nor "cold" inside "scolded".
# Text is matched with a space in front (see classify), so a word start is a literal space.
_BEFORE = " "
_AFTER = r"(?![a-z0-9])"
# Expanding each concept term into at most this many variants that start with plain letters
# keeps compiling the concepts near 0.2 s of start-up; the scanner (scan.py) asks a concept's
# regex only at the word starts where one of its terms can begin.
_CONCEPT_VARIANTS = 8
_PLAIN_START = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'")
_QUANTIFIER = frozenset("?*+{")


class RulesError(ValueError):
    """The rules file is missing or invalid; the message names the file and the problem."""


def _check_pattern(pattern: str) -> str:
    if not pattern.strip():
        raise ValueError("empty pattern")
    if _FORBIDDEN_SYNTAX.search(pattern):
        raise ValueError(f"named groups and backreferences are not allowed: {pattern!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    if compiled.fullmatch(""):
        raise ValueError(f"pattern matches empty text, so it would match everywhere: {pattern!r}")
    return pattern


Pattern = Annotated[str, AfterValidator(_check_pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermGroup(_Strict):
    note: str = ""
    weight: float = Field(gt=0)
    terms: list[Pattern] = Field(min_length=1)


ConceptName = Annotated[str, Field(pattern=r"^[a-z][a-z_]*$", max_length=40)]
# Texting forms are whole words ("chu", "rn", "pu"); what they stand for is plain words.
ShortForm = Annotated[str, Field(pattern=r"^[a-z0-9']+$")]
Expansion = Annotated[str, Field(pattern=r"^[a-z0-9' -]+$")]


class Concept(_Strict):
    """A risk concept (a Columbia severity category) and its vocabulary in both languages."""

    note: str = ""
    # crisis: a present mention makes the inquiry a crisis; risk: review today.
    level: Literal["crisis", "risk"]
    terms: list[Pattern] = Field(min_length=1)


class ContextRule(_Strict):
    """Words that modify a concept mention near them in the same clause (ConText)."""

    note: str = ""
    # pseudo: words that hold a trigger without being one ("don't worry", "not only"): the
    # other rules' triggers inside them are ignored (NegEx's pseudo-triggers).
    effect: Literal[
        "negation", "history", "hypothetical", "experiencer", "present", "idiom", "pseudo"
    ]
    # forward: the trigger comes before the concept; backward: after it; both: either.
    direction: Literal["forward", "backward", "both"]
    window: int = Field(ge=0, le=40)
    # A present-risk signal anywhere ("the thoughts came back") may reach every mention.
    whole_message: bool = False
    terms: list[Pattern] = Field(min_length=1)


class CrisisSection(_Strict):
    note: str = ""
    spelling: dict[ShortForm, Expansion] = {}
    clause_breaks: list[Pattern] = Field(min_length=1)
    concepts: dict[ConceptName, Concept] = Field(min_length=1)
    context: list[ContextRule] = []


class ModelSection(_Strict):
    """How far the learned model is trusted; probabilities are between 0 and 1."""

    note: str = ""
    crisis_threshold: float = Field(gt=0, le=1)
    # A text whose every concept mention was cancelled by its context needs more: more still
    # when one was denied outright or an idiom ("I don't want to die", "this bill kills me").
    cancelled_threshold: float = Field(gt=0, le=1)
    denied_threshold: float = Field(gt=0, le=1)
    risk_threshold: float = Field(gt=0, le=1)
    spam_threshold: float = Field(gt=0, le=1)
    hint_bonus: float = Field(ge=0)


# A host name of the clinic's own: "ketaminetherapyclinic.ca".
Domain = Annotated[str, Field(pattern=r"^[a-z0-9-]+(?:[.][a-z0-9-]+)+$")]


class SpamSection(_Strict):
    note: str = ""
    threshold: float = Field(gt=0)
    link_weight: float = Field(ge=0)
    max_links_counted: int = Field(ge=0)
    # A link to the clinic's own site is a visitor quoting its page, not an advert.
    own_sites: list[Domain] = []
    groups: list[TermGroup] = Field(min_length=1)


class RulesFile(_Strict):
    """The JSON document as the clinic edits it."""

    version: Literal[2]
    note: str = ""
    visitor_hint_weight: float = Field(ge=0)
    tie_order: list[Topic]
    crisis: CrisisSection
    topics: dict[Topic, list[TermGroup]]
    spam: SpamSection
    model: ModelSection


@dataclass(frozen=True, slots=True)
class WeightedMatcher:
    """One combined regex for a category; each term group is a named alternative with its weight."""

    regex: re.Pattern[str]
    weights: dict[str, float]


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled rules, ready for triage; build with load_rules()."""

    source: str
    concepts: ConceptMatcher
    topics: tuple[tuple[Topic, WeightedMatcher], ...]
    spam: WeightedMatcher
    spam_threshold: float
    link_weight: float
    max_links_counted: int
    visitor_hint_weight: float
    tie_rank: dict[Topic, int]
    # The topics in tie order, then spam.
    scanner: Scanner
    # One pass over a text for the places to ask the concepts, the topics and the context rules.
    candidates: Candidates
    model: LinearModel
    crisis_threshold: float
    cancelled_threshold: float
    denied_threshold: float
    risk_threshold: float
    spam_model_threshold: float
    hint_bonus: float
    version: int = 1  # the file's format version
    digest: str = ""  # the start of the file's SHA-256: which edit of the file is in use
    loaded_at: datetime | None = None
    own_sites: tuple[str, ...] = ()  # host names whose links are not counted


def _weighted(groups: list[TermGroup]) -> WeightedMatcher:
    # Heavier groups first: at one position the first alternative that matches wins.
    ordered = sorted(groups, key=lambda group: -group.weight)
    alternations = tuple(alternation(group.terms) for group in ordered)
    parts = [f"(?P<g{i}>{body})" for i, body in enumerate(alternations)]
    weights = {f"g{i}": group.weight for i, group in enumerate(ordered)}
    regex = re.compile(_BEFORE + "(?:" + "|".join(parts) + ")" + _AFTER)
    return WeightedMatcher(regex=regex, weights=weights)


def _plain(patterns: list[str]) -> str:
    """Join terms, grouped by their first letter so the engine skips a group in one test.

    Concept and context vocabularies are long regexes with leading choices: the full trie of
    patterns.alternation() would compile several times slower (start-up) for little gain.
    """
    by_first: dict[str, list[str]] = {}
    others: list[str] = []
    for pattern in patterns:
        for term in split_top(pattern):
            if term[:1] in _PLAIN_START and term[1:2] not in _QUANTIFIER:
                by_first.setdefault(term[0], []).append(term[1:])
            else:
                others.append(term)
    parts = [
        first + "(?:" + "|".join(f"(?:{rest})" for rest in rests) + ")"
        for first, rests in by_first.items()
    ]
    return "(?:" + "|".join(parts + [f"(?:{term})" for term in others]) + ")"


def _check_coverage(document: RulesFile) -> None:
    scored = sorted(topic.value for topic in VISITOR_TOPICS)
    present = {topic.value for topic in document.topics}
    missing = sorted(set(scored) - present)
    extra = sorted(present - set(scored))
    if missing or extra:
        raise ValueError(f"topics must be exactly {scored}; missing {missing}, not allowed {extra}")
    if sorted(topic.value for topic in document.tie_order) != scored:
        raise ValueError(f"tie_order must list each of {scored} once")


def _compile(document: RulesFile, source: str, model: LinearModel) -> Rules:
    crisis = document.crisis
    concepts = build_concept_matcher(
        spelling=crisis.spelling,
        clause_breaks=_plain(crisis.clause_breaks),
        concepts=[
            (name, c.level, alternation(c.terms, _CONCEPT_VARIANTS))
            for name, c in crisis.concepts.items()
        ],
        context=[
            (rule.effect, rule.direction, rule.window, rule.whole_message, _plain(rule.terms))
            for rule in crisis.context
        ],
        before=_BEFORE,
        after=_AFTER,
    )
    topics = tuple((topic, _weighted(document.topics[topic])) for topic in document.tie_order)
    spam = _weighted(document.spam.groups)
    matchers = [matcher for _, matcher in topics] + [spam]
    term_groups = [document.topics[topic] for topic in document.tie_order] + [document.spam.groups]
    candidates = build_candidates(
        [
            [concept.terms for concept in crisis.concepts.values()],
            [[term for group in groups for term in group.terms] for groups in term_groups],
            [rule.terms for rule in crisis.context],
        ],
        before=_BEFORE,
    )
    return Rules(
        source=source,
        concepts=concepts,
        topics=topics,
        spam=spam,
        spam_threshold=document.spam.threshold,
        link_weight=document.spam.link_weight,
        max_links_counted=document.spam.max_links_counted,
        visitor_hint_weight=document.visitor_hint_weight,
        tie_rank={topic: rank for rank, topic in enumerate(document.tie_order)},
        scanner=Scanner(tuple(matcher.regex for matcher in matchers)),
        candidates=candidates,
        model=model,
        crisis_threshold=document.model.crisis_threshold,
        cancelled_threshold=document.model.cancelled_threshold,
        denied_threshold=document.model.denied_threshold,
        risk_threshold=document.model.risk_threshold,
        spam_model_threshold=document.model.spam_threshold,
        hint_bonus=document.model.hint_bonus,
        own_sites=tuple(document.spam.own_sites),
    )


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def load_rules(
    path: Path | None = None, model_path: Path | None = None, *, model: LinearModel | None = None
) -> Rules:
    """Read, validate and compile a rules file (the packaged rules.json by default).

    The learned model's weights (the packaged model.json by default, or `model`) load with the
    rules, so that a reload replaces both together.
    """
    path = path or DEFAULT_RULES_PATH
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read triage rules: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RulesError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    try:
        document = RulesFile.model_validate(data)
        _check_coverage(document)
    except ValidationError as exc:
        raise RulesError(f"{path}: invalid triage rules:\n{_describe(exc)}") from exc
    except ValueError as exc:
        raise RulesError(f"{path}: invalid triage rules: {exc}") from exc
    if model is None:
        try:
            model = load_model(model_path or DEFAULT_MODEL_PATH)
        except ModelError as exc:
            raise RulesError(str(exc)) from exc
    return replace(
        _compile(document, str(path), model),
        version=document.version,
        digest=hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12],
        loaded_at=datetime.now(UTC),
    )


_lock = threading.Lock()
_default: Rules | None = None
_default_path: Path | None = None
_reload_error: tuple[datetime, str] | None = None


def default_rules() -> Rules:
    """Return the rules triage uses by default, loading them on first use."""
    global _default
    rules = _default
    if rules is None:
        with _lock:
            if _default is None:
                _default = load_rules(_default_path)
            rules = _default
    return rules


def use_rules(path: Path | None) -> Rules:
    """Make `path` (the packaged rules when None) the default, reading it only if needed."""
    target = path or DEFAULT_RULES_PATH
    with _lock:
        if _default is not None and (_default_path or DEFAULT_RULES_PATH) == target:
            return _default
    return reload_rules(target)


def reload_rules(path: Path | None = None) -> Rules:
    """Re-read the rules file (or switch to path); on error the previous rules stay in use."""
    global _default, _default_path, _reload_error
    with _lock:
        target = path or _default_path
        try:
            fresh = load_rules(target)
        except RulesError as error:
            _reload_error = (datetime.now(UTC), str(error))
            raise
        _default, _default_path, _reload_error = fresh, target, None
    return fresh


def last_reload_error() -> tuple[datetime, str] | None:
    """When the last reload failed and why, unless a reload succeeded since."""
    return _reload_error
