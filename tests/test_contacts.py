"""Contact details in one normal form, and the keys an inquiry is found by."""

from __future__ import annotations

import pytest

from inquiry.contacts import (
    NotAContact,
    contact_keys,
    email_address,
    name_prefix_range,
    name_words,
    phone_e164,
)


@pytest.mark.parametrize(
    "written",
    ["(416) 555-0199", "416.555.0199", "+1 416 555 0199", "1-416-555-0199", "4165550199"],
)
def test_a_phone_number_has_one_form_however_written(written: str) -> None:
    assert phone_e164(written) == "+14165550199"


@pytest.mark.parametrize("written", ["555-0199", "12", "call me", "+1 999 555 0199"])
def test_what_is_not_a_number_is_refused(written: str) -> None:
    with pytest.raises(NotAContact):
        phone_e164(written)


def test_an_email_address_keeps_its_local_part_and_the_ascii_form_of_its_domain() -> None:
    assert email_address("Marie@Example.CA") == "Marie@example.ca"
    assert email_address("marie@bücher.ca") == "marie@xn--bcher-kva.ca"
    with pytest.raises(NotAContact):
        email_address("josé@example.ca")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Hélène O'Brien-Tremblay", ["helene", "obrien", "tremblay"]),
        ("  ZOË   zoë ", ["zoe"]),
        ("D’Arcy McDonald_Smith", ["darcy", "mcdonald", "smith"]),
        ("李 小龍", ["李", "小龍"]),
        ("- -", []),
    ],
)
def test_a_name_is_its_words_folded_to_plain_lower_case(name: str, words: list[str]) -> None:
    assert name_words(name) == words


def test_the_keys_never_repeat_and_say_what_they_are() -> None:
    keys = contact_keys(name="Ann Ann Lee", email="Ann@Example.ca", phone="+14165550199")
    assert keys == ["n:ann", "n:lee", "e:ann@example.ca", "p:+14165550199"]
    assert contact_keys(name="Ann", email=None, phone=None) == ["n:ann"]


def test_a_prefix_range_holds_exactly_the_words_that_begin_so() -> None:
    low, high = name_prefix_range("dan")
    inside = ["n:dan", "n:dana", "n:danz", "n:dan9"]
    outside = ["n:da", "n:dao", "n:dbn", "n:cdan", "p:+1416", "e:dan@example.ca"]
    assert all(low <= key < high for key in inside)
    assert not any(low <= key < high for key in outside)
