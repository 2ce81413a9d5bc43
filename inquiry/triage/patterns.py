"""Join many term regexes into one fast alternation, matching exactly the same texts.

Python's regex engine tries alternatives one after another at every word start, but skips
an alternative cheaply when it begins with a plain character that does not match. So the
terms are rewritten to start with plain characters (leading groups such as "(?:since|after)"
are expanded) and then folded into a character trie: "cost|covered" becomes "co(?:st|vered)".
"""

import importlib
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

# Expanding a term with many leading choices multiplies the pattern; past this, keep it as is.
_MAX_VARIANTS = 256
_QUANTIFIERS = frozenset("?*+{")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 '-")


def _structure(term: str) -> Iterator[tuple[int, str, int]]:
    """Each character outside escapes and character classes, with the group depth after it."""
    depth = 0
    in_class = False
    index = 0
    while index < len(term):
        char = term[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if term[index + 1 : index + 2] == "]":
                index += 1
        else:
            depth += (char == "(") - (char == ")")
            yield index, char, depth
        index += 1


# Reading a regex character by character is most of what compiling the rules costs, and the
# same pieces are read again and again (every alternative of a group is followed by the same
# rest): each answer is kept, across loads too, so a reload of the same rules is quicker.
_READ_CACHE = 1 << 15


@lru_cache(maxsize=_READ_CACHE)
def _close_paren(term: str) -> int:
    """Return the index of the parenthesis closing the group the term opens with, or -1."""
    return next((i for i, char, depth in _structure(term) if char == ")" and depth == 0), -1)


@lru_cache(maxsize=_READ_CACHE)
def _top_bars(term: str) -> tuple[int, ...]:
    return tuple(i for i, char, depth in _structure(term) if char == "|" and depth == 0)


def split_top(term: str) -> list[str]:
    """Split a regex on the "|" that are not inside a group or a character class."""
    bounds = [-1, *_top_bars(term), len(term)]
    return [term[start + 1 : end] for start, end in zip(bounds, bounds[1:], strict=False)]


def _expand(term: str, budget: int = _MAX_VARIANTS) -> list[str]:
    """Rewrite a term as equivalent alternatives that start with plain characters."""
    alternatives = split_top(term)
    if len(alternatives) > 1:
        return [variant for alt in alternatives for variant in _expand(alt, budget)]
    if not term.startswith("(?:"):
        return [term]
    end = _close_paren(term)
    rest = term[end + 1 :]
    optional = rest.startswith("?") and not rest.startswith("??")
    if end < 0 or (rest[:1] in _QUANTIFIERS and not optional):
        return [term]
    if optional:
        rest = rest[1:]
    heads = split_top(term[3:end]) + ([""] if optional else [])
    # An empty variant is kept: it is the optional group left out ("" ends the term).
    variants = [head + rest for head in heads]
    if len(variants) > budget or len(variants) < len(heads) - optional:
        return [term]
    expanded = [
        piece for variant in variants for piece in _expand(variant, budget // len(variants))
    ]
    return expanded if len(expanded) <= budget else [term]


def _starts_plain(term: str) -> bool:
    return term[:1] in _PLAIN and term[1:2] not in _QUANTIFIERS


def _trie(terms: list[str], budget: int = _MAX_VARIANTS) -> str:
    """Fold terms that share leading plain characters into nested alternations."""
    branches: dict[str, list[str]] = {}
    others: list[str] = []
    ends_here = False
    for term in (piece for original in terms for piece in _expand(original, budget)):
        if not term:
            ends_here = True
        elif _starts_plain(term):
            branches.setdefault(term[0], []).append(term[1:])
        elif term not in others:
            others.append(term)
    parts = []
    for char, rests in branches.items():
        unique = list(dict.fromkeys(rests))
        if len(unique) == 1:
            parts.append(char + (f"(?:{unique[0]})" if "|" in unique[0] else unique[0]))
        else:
            parts.append(f"{char}(?:{_trie(unique, budget)})")
    parts += [f"(?:{term})" for term in others]
    # An ended term is tried last so the longer phrase sharing its start is preferred.
    if ends_here:
        parts.append("")
    return "|".join(parts)


def alternation(terms: list[str], budget: int = _MAX_VARIANTS) -> str:
    """Return one regex (without boundaries) matching exactly what any of the terms matches.

    A term is expanded into at most `budget` variants that start with plain characters.
    """
    return f"(?:{_trie(terms, budget)})"


# The functions below only analyse or merge finished regexes for the candidate scan (see
# scan.py). They never change what a category matches, so they are free to reorder.
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")
_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_CLASS = re.compile(r"\[([^\]\\^][^\]\\]*)\]")
# Distributing "(?:a|b)c" into "ac|bc" lets more branches merge; past this, keep it whole.
_MAX_DISTRIBUTE = 16


def _unwrap(regex: str) -> tuple[str, str] | None:
    """Split "(?:inner)rest" into inner and rest when the group is matched exactly once."""
    if not regex.startswith("(?:"):
        return None
    end = _close_paren(regex)
    rest = regex[end + 1 :]
    if end < 0 or rest[:1] in _QUANTIFIERS:
        return None
    return regex[3:end], rest


def _optional(regex: str) -> tuple[str, str] | None:
    """Split "(?:inner)?rest" (greedy or lazy) into inner and rest."""
    if not regex.startswith("(?:"):
        return None
    end = _close_paren(regex)
    rest = regex[end + 1 :]
    if end < 0 or not rest.startswith("?"):
        return None
    rest = rest[2:] if rest.startswith("??") else rest[1:]
    return regex[3:end], rest


def heads(regex: str, length: int) -> set[str]:
    """Return literal texts, at most length long, that every match of regex starts with.

    A text shorter than length means "then anything": the walk stopped at a construct it does
    not read (a class, an escape, a quantified group), so the set over-approximates the regex.
    """
    found: set[str] = set()
    # Every pending text is one alternative: splitting is only needed inside opened groups.
    pending = [(alternative, "") for alternative in split_top(regex)]
    while pending:
        rest, prefix = pending.pop()
        if len(prefix) == length or not rest:
            found.add(prefix)
        elif rest[0] not in _SPECIAL and rest[1:2] not in _QUANTIFIERS:
            pending.append((rest[1:], prefix + rest[0]))
        elif rest[0] not in _SPECIAL and rest[1:2] == "?":
            # An optional letter ("i'?m"): with it, or without it.
            after = rest[3:] if rest[2:3] == "?" else rest[2:]
            pending += [(after, prefix + rest[0]), (after, prefix)]
        elif rest[0] not in _SPECIAL and rest[1:2] == "+":
            found.add(prefix + rest[0])
        elif (chars := _class_chars(rest)) is not None:
            members, after = chars
            if after[:1] in _QUANTIFIERS and not after.startswith(("+", "{1")):
                found.add(prefix)
            else:
                # One member is matched; "+" and "{1," may repeat it, so stop there.
                repeat = after[:1] in _QUANTIFIERS
                pending += [("" if repeat else after, prefix + char) for char in members]
                found.update(prefix + char for char in members if repeat)
        elif (group := _unwrap(rest)) is not None:
            inner, after = group
            pending += [(part + after, prefix) for part in split_top(inner)]
        elif (group := _optional(rest)) is not None:
            inner, after = group
            # Either one of the group's alternatives comes first, or what follows the group.
            pending += [(part + after, prefix) for part in split_top(inner)] + [(after, prefix)]
        elif rest.startswith(_LOOKAROUNDS) and (end := _close_paren(rest)) > 0:
            # A lookaround consumes nothing: skipping it only lets more texts through.
            after = rest[end + 1 :]
            if after[:1] in _QUANTIFIERS:
                found.add(prefix)
            else:
                pending.append((after, prefix))
        else:
            found.add(prefix)
    return found


def _class_chars(regex: str) -> tuple[str, str] | None:
    """Return the members of a leading plain character class such as [a-z0-9$], and the rest."""
    match = _CLASS.match(regex)
    if match is None:
        return None
    body = match.group(1)
    members = ""
    index = 0
    while index < len(body):
        if body[index + 1 : index + 2] == "-" and index + 2 < len(body):
            members += "".join(map(chr, range(ord(body[index]), ord(body[index + 2]) + 1)))
            index += 3
        else:
            members += body[index]
            index += 1
    return "".join(dict.fromkeys(members)), regex[match.end() :]


def _flatten(alternatives: list[str]) -> list[str]:
    """Open groups that start an alternative and are matched exactly once."""
    flat: list[str] = []
    pending = list(reversed(alternatives))
    while pending:
        regex = pending.pop()
        group = _unwrap(regex)
        parts = split_top(group[0]) if group is not None else []
        if group is not None and (not group[1] or len(parts) <= _MAX_DISTRIBUTE):
            pending += reversed([part + group[1] for part in parts])
        else:
            flat.append(regex)
    return flat


def merge(regexes: list[str]) -> str:
    """Return one regex matching exactly the union of what the regexes match, in any order."""
    return _merge([alternative for regex in regexes for alternative in split_top(regex)])


def _merge(alternatives: list[str]) -> str:
    # Each item is one alternative (no "|" outside groups), and so is each rest below.
    branches: dict[str, list[str]] = {}
    others: list[str] = []
    empty = False
    for regex in _flatten(alternatives):
        if not regex:
            empty = True
        elif _starts_plain(regex):
            branches.setdefault(regex[0], []).append(regex[1:])
        else:
            others.append(regex)
    parts = [char + _wrap(_merge(list(dict.fromkeys(rests)))) for char, rests in branches.items()]
    parts += [f"(?:{other})" for other in dict.fromkeys(others)]
    return "|".join(parts + ([""] if empty else []))


def _wrap(regex: str) -> str:
    return f"(?:{regex})" if "|" in regex else regex


# A literal set grows by cross products ("(?:pill|med)s " gives two texts); past this, a
# construct ends the run of literals instead.
_MAX_NEEDLES = 64
_SRE = importlib.import_module("re._parser")
_CONSTANTS = importlib.import_module("re._constants")
_ZERO_WIDTH = frozenset({_CONSTANTS.AT, _CONSTANTS.ASSERT, _CONSTANTS.ASSERT_NOT})


def needles(regex: str) -> frozenset[str] | None:
    """Return texts one of which every match of regex contains, or None if none are known.

    Of the runs of literal texts the regex is built from (with small choices multiplied out),
    the one whose shortest text is longest is returned.
    """
    parsed = _SRE.parse(regex)
    if parsed.state.flags & re.IGNORECASE:
        return None
    found = _needles(parsed)
    return frozenset(found) if found else None


def _needles(sequence: Any) -> set[str] | None:
    best: set[str] | None = None
    run: set[str] | None = {""}

    def finish() -> None:
        nonlocal best, run
        if run and "" not in run and (best is None or _rank(run) > _rank(best)):
            best = run
        run = {""}

    for op, argument in sequence:
        if op in _ZERO_WIDTH:
            continue
        exact = _finite([(op, argument)])
        if exact is not None and run is not None and len(run) * len(exact) <= _MAX_NEEDLES:
            run = {head + tail for head in run for tail in exact}
            continue
        finish()
        inner: set[str] | None = None
        if op == _CONSTANTS.SUBPATTERN and not _scoped_flags(argument):
            inner = _needles(argument[-1])
        elif op == _CONSTANTS.BRANCH:
            parts = [_needles(branch) for branch in argument[1]]
            inner = set().union(*parts) if all(parts) else None  # type: ignore[arg-type]
        elif op in (_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT) and argument[0] >= 1:
            inner = _needles(argument[2])
        if inner and (best is None or _rank(inner) > _rank(best)):
            best = inner
    finish()
    return best


def _scoped_flags(group: Any) -> bool:
    """Whether a group sets flags of its own, such as (?i:...): its literals are not literal."""
    return bool(group[1] or group[2])


def _rank(texts: set[str]) -> tuple[int, int]:
    return min(map(len, texts)), -len(texts)


def _finite(sequence: Any) -> set[str] | None:
    """Every text the sequence can match, if they are few; zero-width parts are left out."""
    texts = {""}
    for op, argument in sequence:
        if op in _ZERO_WIDTH:
            continue
        if op == _CONSTANTS.LITERAL:
            choices: set[str] | None = {chr(argument)}
        elif op == _CONSTANTS.IN:
            choices = _class_members(argument)
        elif op == _CONSTANTS.SUBPATTERN and not _scoped_flags(argument):
            choices = _finite(argument[-1])
        elif op == _CONSTANTS.BRANCH:
            parts = [_finite(branch) for branch in argument[1]]
            choices = None if None in parts else set().union(*parts)  # type: ignore[arg-type]
        elif op in (_CONSTANTS.MAX_REPEAT, _CONSTANTS.MIN_REPEAT) and argument[:2] == (0, 1):
            once = _finite(argument[2])
            choices = None if once is None else once | {""}
        else:
            choices = None
        if choices is None or len(texts) * len(choices) > _MAX_NEEDLES:
            return None
        texts = {head + tail for head in texts for tail in choices}
    return texts


def _class_members(items: Any) -> set[str] | None:
    members: set[str] = set()
    for op, argument in items:
        if op == _CONSTANTS.LITERAL:
            members.add(chr(argument))
        elif op == _CONSTANTS.RANGE and argument[1] - argument[0] < _MAX_NEEDLES:
            members.update(map(chr, range(argument[0], argument[1] + 1)))
        else:
            return None
    return members
