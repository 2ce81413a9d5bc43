"""Find risk concepts in folded text and decide, from the words around each, whether it counts.

A concept is a Columbia suicide-severity category (wish to be dead, ideation, method, intent,
plan, preparation, self-harm, overdose, inability to stay safe, command voices, ...) with its
vocabulary. Each mention is then modified, as NegEx and ConText do, by trigger words near it in
the same clause: a negation or an idiom cancels it; a time in the past (history) or a question
about treatment (hypothetical) cancels it unless a present-time signal is in the clause too;
someone else as the experiencer only labels it, since present danger to another person counts.
A pseudo-trigger ("don't worry", "it's not me who") hides the triggers inside it.

Speed: the concepts are read as one regex whose alternatives are the concepts in order, and
the context rules each on its own, both through a scanner (scan.py): the places where some
concept (or trigger) may match come from one pass over the text shared with the topic terms,
and only the concepts (rules) whose terms can begin there are asked. A message is scanned for
concepts and, only when one is found, for context.
"""

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from inquiry.triage.scan import Places, Scanner

_CANCELS = frozenset({"negation", "idiom"})
_CANCELS_UNLESS_PRESENT = frozenset({"history", "hypothetical"})
# A run of the characters a texting form is made of (see rules.ShortForm).
_RUN = re.compile("[a-z0-9']+")
_RUN_SPLIT = re.compile("([a-z0-9']+)")
# In ASCII text, the runs are what is left once every other character is a space: twice as
# fast as finding them (4 against 7 us for 300 characters).
_NOT_RUN = bytes(code if _RUN.fullmatch(chr(code)) else 32 for code in range(256))
# How each effect reads in the reasons staff see.
_LABEL = {
    "negation": "negated",
    "history": "history",
    "hypothetical": "hypothetical or informational",
    "experiencer": "someone else",
    "present": "present",
    "idiom": "idiom",
}


@dataclass(frozen=True, slots=True)
class Mention:
    """One concept found in the text, the context that applies to it and whether it counts."""

    concept: str
    level: str  # "crisis" or "risk"
    phrase: str
    effects: tuple[str, ...]
    counts: bool

    def reason(self) -> str:
        """Return e.g. "ideation: 'suicidal' — history, cancelled"."""
        shown = [_LABEL[effect] for effect in self.effects if effect != "present"]
        status = ", ".join(shown + ([] if self.counts else ["cancelled"]))
        if self.counts and "present" in self.effects or not status:
            status = "present" + (", " + status if status else "")
        return f"{self.concept}: '{self.phrase}' \u2014 {status}"


@dataclass(frozen=True, slots=True)
class ContextRule:
    effect: str
    direction: str
    window: int
    whole_message: bool


@dataclass(frozen=True, slots=True)
class ConceptMatcher:
    """The compiled concepts, context rules, clause breaks and texting forms."""

    spelling: dict[str, str]
    # A place belongs to the first concept, in the file's order, that matches there.
    concepts: Scanner
    names: tuple[tuple[str, str], ...]  # (concept, level) of each of the scanner's categories
    # Each rule on its own: in a single alternation a shorter trigger of one rule would hide
    # the longer trigger of another at the same place.
    context: Scanner
    context_rules: tuple[ContextRule, ...]
    breaks: re.Pattern[str]

    def normalise(self, text: str) -> str:
        """Spell out texting forms ("chu" -> "je suis", "rn" -> "right now") in folded text."""
        spelling = self.spelling
        # A form is made of [a-z0-9'] (rules.ShortForm) and counts only as a whole run of them:
        # splitting the text into runs finds every form at once, unlike a search for each.
        runs = text.encode().translate(_NOT_RUN).decode().split() if text.isascii() else None
        if spelling.keys().isdisjoint(_RUN.findall(text) if runs is None else runs):
            return text
        parts = _RUN_SPLIT.split(text)
        parts[1::2] = [spelling.get(run, run) for run in parts[1::2]]
        return "".join(parts)

    def mentions(self, text: str, concept_places: Places, context_places: Places) -> list[Mention]:
        """Every concept mention in text (normalised, with a leading space), with its context;
        the places to ask the concepts and the context rules come from the rules' shared pass."""
        found = self.concepts.find_first(text, concept_places)
        if not found:
            return []
        rules = self.context_rules
        triggers = [
            (m.start(), m.end(), rules[rule]) for rule, m in self.context.find(text, context_places)
        ]
        if any(rule.effect == "pseudo" for *_, rule in triggers):
            triggers = _without_pseudo(triggers)
        cuts = [m.start() for m in self.breaks.finditer(text)]
        return [self._mention(text, concept, match, triggers, cuts) for concept, match in found]

    def _mention(
        self,
        text: str,
        index: int,
        match: re.Match[str],
        triggers: list[tuple[int, int, ContextRule]],
        cuts: list[int],
    ) -> Mention:
        concept, level = self.names[index]
        start, end = match.span()
        clause = bisect_right(cuts, start)
        low = cuts[clause - 1] if clause else 0
        high = cuts[clause] if clause < len(cuts) else len(text)
        effects: dict[str, None] = {}
        for t_start, t_end, rule in triggers:
            if rule.whole_message:
                effects[rule.effect] = None
                continue
            if t_end <= low or t_start >= high:
                continue
            if t_start <= start and t_end >= end:
                # A trigger phrase that covers the whole mention ("died by suicide").
                distance = 0
                applies = True
            elif t_end <= start + 1:
                distance = text.count(" ", t_end, start + 1) - 1
                applies = rule.direction != "backward"
            elif t_start >= end:
                distance = text.count(" ", end, t_start + 1) - 1
                applies = rule.direction != "forward"
            else:
                # Overlapping words belong to the mention ("not" in "not worth living"); only
                # an idiom is the phrase around it.
                distance = 0
                applies = rule.effect == "idiom"
            if applies and distance <= rule.window:
                effects[rule.effect] = None
        present = "present" in effects
        counts = not (
            _CANCELS.intersection(effects)
            or (_CANCELS_UNLESS_PRESENT.intersection(effects) and not present)
        )
        ordered = tuple(effect for effect in _LABEL if effect in effects)
        return Mention(concept, level, match.group().strip(), ordered, counts)


def _without_pseudo(
    triggers: list[tuple[int, int, ContextRule]],
) -> list[tuple[int, int, ContextRule]]:
    """Drop the pseudo-triggers and every trigger strictly inside one: the "pas" of
    "t' inquiete pas" negates nothing the writer says about themselves. A trigger that spans
    the same words ("none currently") is the real one and stays."""
    pseudo = [(start, end) for start, end, rule in triggers if rule.effect == "pseudo"]
    return [
        (start, end, rule)
        for start, end, rule in triggers
        if rule.effect != "pseudo"
        and not any(
            p_start <= start and end <= p_end and (start, end) != (p_start, p_end)
            for p_start, p_end in pseudo
        )
    ]


def build_concept_matcher(
    *,
    spelling: dict[str, str],
    clause_breaks: str,
    concepts: Sequence[tuple[str, str, str]],
    context: Sequence[tuple[str, str, int, bool, str]],
    before: str,
    after: str,
) -> ConceptMatcher:
    """Compile (name, level, body) concepts and (effect, direction, window, whole message, body)
    context rules, where body is one regex matching what any of the concept's (rule's) terms
    matches."""
    return ConceptMatcher(
        spelling=dict(spelling),
        concepts=Scanner(tuple(re.compile(before + body + after) for *_, body in concepts)),
        names=tuple((name, level) for name, level, _ in concepts),
        context=Scanner(tuple(re.compile(before + body + after) for *_, body in context)),
        context_rules=tuple(
            ContextRule(effect, direction, window, whole)
            for effect, direction, window, whole, *_ in context
        ),
        # A sentence end, or a word that turns the clause ("but", "mais"). A mark that closes
        # a quotation ('our "Feeling suicidal?" quiz') ends the quotation, not the sentence.
        breaks=re.compile(f"[.!?;\\n](?![\"'])|{before}{clause_breaks}{after}"),
    )
