"""Short human-friendly references that staff can read out on the phone."""

import secrets

# No 0/O, 1/I/L or U: nothing that sounds or looks like another character.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 6
_SPACE = len(ALPHABET) ** LENGTH  # about 729 million


def new_reference() -> str:
    """Return a random reference such as INQ-7F3K9Q."""
    number = secrets.randbelow(_SPACE)
    letters = []
    for _ in range(LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        letters.append(ALPHABET[digit])
    return "INQ-" + "".join(letters)
