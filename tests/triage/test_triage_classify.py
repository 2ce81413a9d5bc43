"""Behaviour of triage(): crisis first, the visitor's hint, spam, language and reasons."""

import dataclasses

import pytest

from inquiry.triage import Priority, Topic, TriageResult, reason_categories, triage
from inquiry.triage.classify import model_features, read
from inquiry.triage.rules import Rules, default_rules
from inquiry.triage.taxonomy import PRIORITY_OF_TOPIC


class TestCrisis:
    @pytest.mark.parametrize(
        "message",
        [
            "I don't want to be here anymore",
            "everyone would be better off without me",
            "I wrote goodbye letters last night",
            "I've been giving my things away",
            "im suicidle",
            "i want to kil myself",
            "My son said he wants to kill himself",
            "J'ai des idées noires",
            "je veux en finir",
            "j'ai peur de me faire du mal",
            "je n'ai plus envie de vivre",
            "je pense à me tuer",
            "je veux mourir",
            "idees noires tous les soirs",
            "help.i want to die",
        ],
    )
    def test_direct_indirect_and_misspelt_phrases_are_crisis(self, message: str) -> None:
        result = triage("", message)
        assert result.crisis
        assert result.topic == Topic.CRISIS
        assert result.priority == Priority.URGENT

    def test_crisis_message_is_urgent_even_when_topic_is_billing(self) -> None:
        result = triage("Invoice", "Send the invoice. I want to end my life.", Topic.BILLING)
        assert result.topic == Topic.CRISIS
        assert "visitor chose: billing (overridden by the message)" in result.reasons

    def test_crisis_overrides_spam_words_and_links(self) -> None:
        message = "Cheap SEO backlinks http://a.example http://b.example - I want to kill myself"
        result = triage("", message)
        assert result.topic == Topic.CRISIS
        assert result.crisis

    def test_reason_quotes_the_deciding_phrase(self) -> None:
        result = triage("", "Lately I keep wishing I was dead.")
        assert result.reasons[0] == "wish_dead: 'wishing i was dead' \u2014 present"

    @pytest.mark.parametrize(
        "message",
        [
            "I'm not suicidal, just very depressed. How do I get assessed?",
            "No suicidal thoughts, but my anxiety is bad. What does treatment involve?",
            "My grandmother died by suicide. Am I eligible for ketamine?",
            "I lost my brother to suicide and want to donate to your research.",
            "Je ne suis pas suicidaire mais ma dépression résiste. Comment commencer?",
            "Mon oncle s'est suicidé. Avez-vous des groupes pour les familles?",
            "I don't want to die or anything, but the dissociation scared me.",
            "Is there a risk of overdose with ketamine?",
            "This headache is killing me lol, do you treat migraine?",
        ],
    )
    def test_denials_and_past_events_about_others_are_not_crisis(self, message: str) -> None:
        assert not triage("", message).crisis

    def test_a_denial_does_not_cancel_another_crisis_phrase(self) -> None:
        result = triage("", "I'm not suicidal, but I have been hurting myself again.")
        assert result.crisis
        assert any("negated, cancelled" in reason for reason in result.reasons)


class TestModelThresholds:
    """A concept cancelled by its context leaves the model to decide, with a higher bar: the
    highest when the words were denied outright."""

    DENIED = "I don't want to die or anything, but the dissociation scared me."
    HISTORY = "I had suicidal thoughts years ago; can I start ketamine?"

    def test_a_denied_concept_needs_the_denied_threshold(self) -> None:
        p = crisis_probability(self.DENIED)
        below_cancelled = dataclasses.replace(default_rules(), cancelled_threshold=p / 2)
        assert not triage("", self.DENIED, rules=replace_denied(below_cancelled, p * 2)).crisis
        assert triage("", self.DENIED, rules=replace_denied(below_cancelled, p)).crisis

    def test_a_concept_cancelled_by_its_time_needs_the_cancelled_threshold(self) -> None:
        p = crisis_probability(self.HISTORY)
        below_denied = replace_denied(default_rules(), p / 2)
        above = dataclasses.replace(below_denied, cancelled_threshold=p * 2)
        assert not triage("", self.HISTORY, rules=above).crisis
        assert triage(
            "", self.HISTORY, rules=dataclasses.replace(above, cancelled_threshold=p)
        ).crisis

    def test_the_length_band_is_a_feature(self) -> None:
        rules = default_rules()
        assert "@length 0+" in model_features(read("", "hi there", rules))
        assert "@length 6+" in model_features(read("", "I would like to book an infusion", rules))
        assert "@length 60+" in model_features(read("", "word " * 70, rules))


def replace_denied(rules: Rules, threshold: float) -> Rules:
    return dataclasses.replace(rules, denied_threshold=threshold)


def crisis_probability(message: str) -> float:
    rules = default_rules()
    return rules.model.probabilities(model_features(read("", message, rules)))[Topic.CRISIS]


class TestVisitorHint:
    def test_hint_decides_when_the_message_says_nothing_topical(self) -> None:
        result = triage("", "Please call me back when you can.", Topic.BILLING)
        assert result.topic == Topic.BILLING
        assert "visitor chose: billing" in result.reasons

    def test_message_overrides_the_hint(self) -> None:
        result = triage("", "Could you send me a receipt for my insurance?", Topic.APPOINTMENT)
        assert result.topic == Topic.BILLING
        assert "visitor chose: appointment (overridden by the message)" in result.reasons

    def test_hint_never_lowers_a_clinical_decision(self) -> None:
        message = "Is it safe to take my lithium the morning of the infusion?"
        assert triage("", message).topic == Topic.CLINICAL
        result = triage("", message, Topic.APPOINTMENT)
        assert result.topic == Topic.CLINICAL
        assert "visitor chose: appointment (overridden by the message)" in result.reasons

    def test_topics_a_visitor_cannot_pick_are_ignored_as_hints(self) -> None:
        assert triage("", "Please call me back.", Topic.CRISIS).topic == Topic.GENERAL
        assert triage("", "Please call me back.", Topic.SPAM).topic == Topic.GENERAL

    def test_no_signal_and_no_hint_is_general(self) -> None:
        result = triage("", "hello?")
        assert result.topic == Topic.GENERAL
        assert result.reasons == ("no topic terms matched",)


class TestSpam:
    def test_advert_is_spam_and_low(self) -> None:
        result = triage(
            "", "Premium backlinks and SEO packages, rank #1 on Google! http://x.example"
        )
        assert result.topic == Topic.SPAM
        assert result.priority == Priority.LOW
        assert any("spam signal" in reason for reason in result.reasons)

    def test_real_inquiry_with_links_is_not_spam(self) -> None:
        message = (
            "Saw https://www.cbc.ca/news/ketamine and https://x.ca - how do I start treatment?"
        )
        assert triage("", message).topic == Topic.NEW_PATIENT

    def test_a_link_to_the_clinics_own_site_is_not_counted(self) -> None:
        own = "Vu https://www.ketaminetherapyclinic.ca/contact et admin@ketaminetherapyclinic.ca"
        other = "Vu https://www.example-ads.ca/contact et admin@example-ads.ca"
        rules = default_rules()
        assert read("", own, rules).links == 0
        assert read("", other, rules).links >= 2

    def test_spam_ignores_the_visitor_hint(self) -> None:
        assert triage("", "Buy bitcoin now, guaranteed returns!", Topic.BILLING).topic == Topic.SPAM


class TestLanguage:
    @pytest.mark.parametrize(
        ("message", "language"),
        [
            ("Combien coûte le traitement?", "fr"),
            ("je veux annuler mon rdv de demain", "fr"),
            ("Où êtes-vous situés?", "fr"),
            ("How much does one infusion cost?", "en"),
            ("running late", "en"),
            ("", "en"),
        ],
    )
    def test_detects_english_and_french(self, message: str, language: str) -> None:
        assert triage("", message).language == language


class TestResult:
    def test_result_is_frozen_and_consistent(self) -> None:
        result = triage("Receipt", "Could I get a receipt?")
        assert isinstance(result, TriageResult)
        assert result.priority == PRIORITY_OF_TOPIC[result.topic]
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.topic = Topic.SPAM  # type: ignore[misc]

    def test_is_deterministic(self) -> None:
        first = triage(
            "Hi", "Dizzy since my infusion yesterday, is that normal?", Topic.APPOINTMENT
        )
        assert all(
            first
            == triage("Hi", "Dizzy since my infusion yesterday, is that normal?", Topic.APPOINTMENT)
            for _ in range(3)
        )
        assert first.topic == Topic.CLINICAL

    def test_subject_counts(self) -> None:
        message = "Can we find another time?"
        assert triage("", message).topic == Topic.GENERAL
        assert triage("Reschedule please", message).topic == Topic.APPOINTMENT
        assert triage("Receipt", message).topic == Topic.BILLING

    def test_empty_and_odd_text(self) -> None:
        assert triage("", "").topic == Topic.GENERAL
        assert triage("", "🙂🙂🙂 \u00a0 —").topic == Topic.GENERAL


class TestReasonCategories:
    """What mail may say of a triage: the kind of each reason, never the visitor's words."""

    def test_concept_and_term_reasons_lose_their_quoted_words(self) -> None:
        reasons = [
            "unsafe: 'can't go on' \u2014 present",
            "ideation: 'suicidal' \u2014 history, cancelled",
            'billing term: "how much"',
            "learned model: crisis wording (0.83)",
            "possible risk: review today",
        ]
        assert reason_categories(reasons) == [
            "unsafe \u2014 present",
            "ideation \u2014 history, cancelled",
            "billing term",
            "learned model: crisis wording (0.83)",
            "possible risk: review today",
        ]

    def test_no_word_of_a_crisis_message_survives(self) -> None:
        message = "I have a plan to kill myself this weekend, I can't go on."
        for category in reason_categories(list(triage("", message).reasons)):
            assert "kill" not in category
            assert "go on" not in category
