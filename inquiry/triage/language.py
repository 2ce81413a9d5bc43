"""Tell English from French: the two languages the clinic answers in."""

import re
from typing import Literal

Language = Literal["en", "fr"]

# Short function words are frequent and rarely shared between the two languages, so a
# handful is enough to decide even a one-line message.
_FRENCH = frozenset(
    "je j' j ai le la les des du de et est pour mon ma mes vous nous une un pas avec sur dans "
    "que qui quoi bonjour merci suis sont c' d' l' qu' n' m' s' ce cette ces au aux mais ou "
    "votre vos notre depuis tres plus rien tout toute tous fait faire peux puis-je veux "
    "voudrais aimerais est-ce chez apres avant moi lui elle ils elles leur son sa ses "
    "combien quel quelle quels quelles comment pourquoi oui non svp aussi encore ne y".split()
)
_ENGLISH = frozenset(
    "i i' im i'm the and to of my is you for in it have be can do with this that what how are "
    "me on was thanks thank hi hello just since after would could should will not don' don't "
    "dont can't cant get there your our we they he she his her an at or if so but about any "
    "please am been had has from when where why who which yes no".split()
)
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)?'?")
_ACCENTED = re.compile(r"[éèêàâçùûîôëïœÉÈÊÀÇ]")


def detect_language(folded: str, original: str) -> Language:
    """Return "fr" when the text reads as French, otherwise "en" (the clinic's default)."""
    tokens = _TOKEN.findall(folded)
    french = float(sum(map(_FRENCH.__contains__, tokens)))
    english = float(sum(map(_ENGLISH.__contains__, tokens)))
    if not original.isascii():
        # Accented letters are strong evidence once accents were typed at all.
        french += 0.5 * min(len(_ACCENTED.findall(original)), 6)
    return "fr" if french > english else "en"
