"""Short human-friendly references that staff can read out on the phone."""

import secrets

# No 0/O, 1/I/L or U: nothing that sounds or looks like another character.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 6


def new_reference() -> str:
    """Return a random reference such as INQ-7F3K9Q (30**6, about 729 million values)."""
    return "INQ-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
