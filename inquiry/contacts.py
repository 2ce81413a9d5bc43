"""A visitor's contact details in one normal form: how intake stores them, how staff find them.

A phone number is kept in E.164 (+14165550199) however it was written, an email address in
its validated form. Each inquiry also gets contact keys, the index staff search by: its email
address lower-cased, its phone number, and each word of the name folded to plain lower-case
letters, so that "(416) 555-0199", "Marie@Example.ca" or "helene" find what was submitted as
"+14165550199", "marie@example.ca" or "Hélène Tremblay".
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Numbers written without a country code are read as North American.
DEFAULT_REGION = "CA"
# The kind of a key is its first letters, so a name word never meets an email address.
EMAIL_KEY = "e:"
PHONE_KEY = "p:"
NAME_KEY = "n:"
KEY_MAX_LENGTH = 260  # "e:" and the longest address, 254 characters
_NAME_WORDS_MAX = 8
_NAME_WORD_MAX_LENGTH = 40
_APOSTROPHES = re.compile("['\u2019\u02bc]")
_WORD = re.compile(r"[^\W_]+")


class NotAContact(ValueError):
    """Not a phone number or email address intake would accept."""


def phone_e164(value: str) -> str:
    """The number in E.164, as intake stores it; raises NotAContact if it is not one."""
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException as error:
        raise NotAContact(f"{value!r} is not a phone number") from error
    if not phonenumbers.is_valid_number(number):
        raise NotAContact(f"{value!r} is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def email_address(value: str) -> str:
    """The address as intake stores it; raises NotAContact if it is not one."""
    try:
        # No SMTPUTF8 mailboxes (josé@…): the clinic's relay may not carry them, and an
        # address we accept must be one we can write back to.
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise NotAContact(f"{value!r} is not a valid email address") from error
    # An internationalised domain is kept in its ASCII (punycode) form.
    return checked.ascii_email or checked.normalized


def name_words(text: str) -> list[str]:
    """The words of a name, lower-cased and without accents: "Hélène O'Brien" → helene, obrien."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = _APOSTROPHES.sub("", "".join(c for c in folded if not unicodedata.combining(c)))
    words = dict.fromkeys(word[:_NAME_WORD_MAX_LENGTH] for word in _WORD.findall(plain))
    return list(words)[:_NAME_WORDS_MAX]


def email_key(email: str) -> str:
    return EMAIL_KEY + email.lower()


def phone_key(e164: str) -> str:
    return PHONE_KEY + e164


def contact_keys(*, name: str, email: str | None, phone: str | None) -> list[str]:
    """The keys an inquiry is found by, from its stored name, email and phone (no repeats)."""
    keys = [NAME_KEY + word for word in name_words(name)]
    if email:
        keys.append(email_key(email))
    if phone:
        keys.append(phone_key(phone))
    return keys


def name_prefix_range(word: str) -> tuple[str, str]:
    """Name keys starting with this word lie in [low, high): an index range, not a scan."""
    low = NAME_KEY + word
    return low, low[:-1] + chr(ord(low[-1]) + 1)
