"""Short human-friendly references that staff can read out on the phone."""

import os
import threading

# No 0/O, 1/I/L or U: nothing that sounds or looks like another character.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 6
_SPACE = len(ALPHABET) ** LENGTH  # about 729 million
_DRAW = 5  # bytes per draw: 2**40 values, so rejection sampling rarely discards one
_LIMIT = (256**_DRAW // _SPACE) * _SPACE


class _RandomPool:
    """os.urandom read 4 KiB at a time: one system call per ~800 references, not one each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""

    def below(self, bound: int) -> int:
        while True:
            with self._lock:
                if len(self._buffer) < _DRAW:
                    self._buffer = os.urandom(4096)
                chunk, self._buffer = self._buffer[:_DRAW], self._buffer[_DRAW:]
            value = int.from_bytes(chunk, "big")
            if value < _LIMIT:  # unbiased: discard the uneven tail
                return value % bound


_pool = _RandomPool()


def new_reference() -> str:
    """Return a random reference such as INQ-7F3K9Q."""
    number = _pool.below(_SPACE)
    letters = []
    for _ in range(LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        letters.append(ALPHABET[digit])
    return "INQ-" + "".join(letters)
