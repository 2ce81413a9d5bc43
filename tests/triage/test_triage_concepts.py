"""Crisis concepts and their context (negation, history, questions, someone else, idioms)."""

import pytest

from inquiry.triage import Priority, Topic, default_rules, triage
from inquiry.triage.classify import POSSIBLE_RISK, read


def mentions(message: str) -> list[tuple[str, bool, tuple[str, ...]]]:
    reading = read("", message, default_rules())
    return [(m.concept, m.counts, m.effects) for m in reading.mentions]


class TestConcepts:
    @pytest.mark.parametrize(
        ("message", "concept"),
        [
            ("i keep thinking about killing myself", "ideation"),
            ("je pense a me suicider tous les soirs", "ideation"),
            ("honestly i wish i was dead", "wish_dead"),
            ("chu pu capable, je veux pu vivre", "wish_dead"),
            ("I have about 60 of my zopiclone saved up", "means"),
            ("jai cache toutes mes pilules de seroquel dans un pot", "means"),
            ("how many of my amitriptyline would it take to not wake up", "means"),
            ("I swallowed about 40 of my lorazepam an hour ago", "overdose_act"),
            ("j'ai avalé toute ma bouteille de clonazepam à soir", "overdose_act"),
            ("been cutting my arms again", "self_harm"),
            ("je me suis coupée ce soir", "self_harm"),
            ("idk if i can keep myself safe tonight", "unsafe"),
            ("j'ai peur de ce que je vais faire", "unsafe"),
            ("the voices keep telling me to hurt myself", "voices"),
            ("les voix me disent de me tuer", "voices"),
            ("the letters to my kids are written", "intent_plan"),
            ("vous entendrez plus parler de moi", "intent_plan"),
            ("c quoi la dose de tylenol qui tue quelqu'un", "means"),
            ("mon chum est descendu chercher son fusil", "means"),
            ("my brother just went to get his rifle", "means"),
            ("cest de pire en pire jpourrai pas me retenir longtemps", "unsafe"),
            ("i'm not safe tonight", "unsafe"),
            ("pas sure de me rendre au rdv sans me faire du mal", "unsafe"),
            ("chu au bord de la voie ferrée derrière chez nous", "means"),
            ("si je prends toute ma quetiapine d'un coup, c'est tu assez?", "means"),
            ("bon ben cest mon dernier message, bye", "intent_plan"),
            ("Il m'a envoyé un texto d'adieu", "intent_plan"),
            ("After the 20th I'm going to be gone for good", "intent_plan"),
            ("Cancel my infusions. I won't need them where I'm going.", "intent_plan"),
            ("Won't have to worry about any of it after Friday", "intent_plan"),
            ("I've stopped being able to promise myself I'll make it through", "unsafe"),
            ("Mon coloc a vidé son compte. J'ai peur pour lui cette nuit.", "unsafe"),
            ("the voice says walk into traffic", "voices"),
            ("burning my arm with the lighter again", "self_harm"),
            ("ma blonde dit qu'elle va se tirer une balle à soir", "ideation"),
            ("he keeps saying he'll blow his brains out", "ideation"),
            ("gonna shoot myself this weekend", "ideation"),
            ("the tablets are counted and lined up on the desk", "means"),
            ("jai tout ce qu'il me faut sous la main", "means"),
            ("ça fait 3 semaines que je fais semblant de prendre mes pilules", "means"),
            ("Le pistolet de mon oncle est dans mon char", "means"),
            ("tout le monde va enfin être débarrassé de moi", "intent_plan"),
            ("The envelopes for my kids are sealed", "intent_plan"),
            ("Essayez pas de m'appeler après ce soir", "intent_plan"),
            ("no point in the appt, i wont b here", "intent_plan"),
            ("sitting on the bluffs, legs dangling over the edge", "means"),
            ("chu sua track en arrière du dépanneur", "means"),
            ("The voices are back and louder tonight", "voices"),
            ("jles ai toutes prises", "overdose_act"),
            ("J'pense pas être encore de ce monde en mars", "intent_plan"),
            ("Dites-lui que c'était pas sa faute pis que je l'aimais", "intent_plan"),
            ("Après mardi, plus rien n'aura d'importance.", "intent_plan"),
            ("Je suis pas certaine d'être encore en vie samedi.", "intent_plan"),
            ("Ma soeur a laissé une lettre sur son lit pis elle répond pas", "intent_plan"),
            ("c'est ici que ma vie s'arrête", "intent_plan"),
            ("They'll get the insurance money soon enough", "intent_plan"),
            ("je sais pas si je vais me rendre à vendredi", "unsafe"),
            ("took both plus a bunch of my clonazepam like an hour ago", "overdose_act"),
        ],
    )
    def test_each_concept_is_found_in_both_languages(self, message: str, concept: str) -> None:
        found = mentions(message)
        assert found, message
        assert found[0][0] == concept
        assert found[0][1]
        assert triage("", message).crisis

    @pytest.mark.parametrize(
        "message",
        ["im suicidle", "i wanna kms", "cant keep myself safe tn", "jvais me tuer a soir"],
    )
    def test_texting_forms_and_typos_are_read(self, message: str) -> None:
        assert triage("", message).crisis

    def test_a_crisis_sentence_wins_over_the_request_around_it(self) -> None:
        message = (
            "Can you move my Thursday infusion to next week and email the receipt? "
            "Also I took a handful of my sleeping pills before writing this."
        )
        result = triage("Reschedule", message, Topic.APPOINTMENT)
        assert result.topic == Topic.CRISIS
        assert result.priority == Priority.URGENT
        assert "visitor chose: appointment (overridden by the message)" in result.reasons


class TestContext:
    @pytest.mark.parametrize(
        ("message", "effect"),
        [
            ("I am not suicidal, just tired of waiting", "negation"),
            ("Je n'ai aucune idée suicidaire, je veux juste commencer", "negation"),
            ("Thoughts of harming myself: none.", "negation"),
            ("I was suicidal ten years ago and have been stable since", "history"),
            ("J'ai eu des idées noires il y a cinq ans, c'est derrière moi", "history"),
            ("Do you treat patients with suicidal depression?", "hypothetical"),
            ("Est-ce que des antécédents suicidaires m'excluent du traitement?", "hypothetical"),
            ("Ce trafic va me tuer, je serai en retard", "idiom"),
            ("jai fait une tentative ya longtemps pis ca va mieux", "history"),
            ("Avant j'avais des idées suicidaires, ça fait 3 ans que c'est fini", "history"),
            ("Plusieurs de mes clients ont des antécédents suicidaires", "history"),
            ("Can ketamine itself cause suicidal thoughts as a side effect?", "hypothetical"),
            ("Est-ce que vous traitez la dépression avec idées suicidaires?", "hypothetical"),
            ("Moins de symptômes suicidaires chez vos patients?", "hypothetical"),
            ("Suicidal visitors into bookings: our landing pages convert", "hypothetical"),
            ("J'ai lu que ça aide pour les pensées suicidaires, c'est vrai?", "hypothetical"),
            ("C'est reconnu officiellement pour les idées suicidaires?", "hypothetical"),
            ("I had suicidal thoughts in college. They went away with therapy.", "history"),
            ("Au questionnaire d'hier j'ai coché non: idées suicidaires", "negation"),
            ("My suicidal thoughts never came back after the third infusion", "history"),
            ("Les idées suicidaires ne sont jamais revenues", "history"),
            ("I had suicidal thoughts, but they've been gone for about 6 years", "history"),
            ("The drive up the 400 at rush hour is pure suicide", "idiom"),
            ("Ce bouchon-là va finir par me tuer", "idiom"),
            ("Three winters ago I was writing goodbye letters", "history"),
            ("They asked about suicide and self-harm and I said no to both", "negation"),
            ("Is it true ketamine can reduce suicidal thinking in hours?", "hypothetical"),
            ("Nos pages convertissent les visiteurs anxieux et suicidaires", "hypothetical"),
            ("Ketamine and suicidal ideation: what does the research say?", "hypothetical"),
            ("Les idées suicidaires sont-elles un critère d'exclusion?", "hypothetical"),
            ("Des gens tapent « comment en finir » sur Google, on vous les envoie", "hypothetical"),
            ("Référée pour une automutilation passée, rien depuis dix ans", "history"),
            ("Pt with remote self-harm, currently denies any thoughts", "history"),
            ("Mes idées suicidaires ont disparu depuis longtemps", "history"),
            ('Embed our "Thinking of suicide?" quiz on your site, 5 leads a day', "hypothetical"),
            ("Grandma keeps asking whether I'm suicidal now that I'm on ketamine", "hypothetical"),
            ("Could suicidal ideation be a side effect of the spravato?", "hypothetical"),
            ("Tentative de suicide à 19 ans, stable depuis", "history"),
            ("She had dark thoughts last summer, nothing since", "history"),
            ("Est-ce que c'est couvert, la kétamine pour les idées suicidaires?", "hypothetical"),
        ],
    )
    def test_context_cancels_a_mention_without_present_risk(
        self, message: str, effect: str
    ) -> None:
        found = mentions(message)
        assert found
        assert all(not counts for _, counts, _ in found)
        assert any(effect in effects for _, _, effects in found)
        assert not triage("", message).crisis

    @pytest.mark.parametrize(
        "message",
        [
            "I attempted suicide years ago and the thoughts came back this week",
            "J'ai fait une tentative il y a longtemps et les idées reviennent ces temps-ci",
            "I had thoughts of suicide years ago and they never came back until this week",
            "Ma dépression va finir par me tuer",
            "currently suicidal, had an attempt in 2019",
            "The doctor asked if I was suicidal and I said yes",
        ],
    )
    def test_present_risk_wins_over_history(self, message: str) -> None:
        assert triage("", message).crisis

    @pytest.mark.parametrize(
        "message",
        [
            "cant make it tonight, car wont start, can we do sat",
            "Something odd happened with my payment last week",
            "Do you validate parking on the roof level of the garage?",
            "Le stationnement sur le toit a-t-il un ascenseur?",
            "Our new sign on the ledge is blocking yours, want us to move it?",
        ],
    )
    def test_ordinary_words_near_risk_vocabulary_are_not_concepts(self, message: str) -> None:
        assert mentions(message) == []

    def test_a_negation_that_is_a_figure_of_speech_negates_nothing(self) -> None:
        message = "Parking is fine, it doesn't matter, the letters are written anyway"
        assert triage("", message).crisis
        assert triage("", "Le prenez pas personnel, cette nuit je vais jusqu'au bout").crisis

    def test_an_age_said_after_the_words_is_history_but_not_an_age_said_later(self) -> None:
        assert not triage("", "J'ai fait une tentative à 20 ans. J'en ai 44.").crisis
        assert triage("", "Mon fils parle de se suicider, il a 16 ans.").crisis

    def test_danger_to_someone_else_now_counts(self) -> None:
        result = triage("", "My husband says he is going to kill himself tonight")
        assert result.crisis
        assert "someone else" in result.reasons[0]

    def test_someone_elses_past_does_not_count(self) -> None:
        assert not triage("", "My uncle died by suicide in 2015. Can I still be treated?").crisis

    def test_reasons_name_the_concept_the_words_and_the_context(self) -> None:
        present = triage("", "I want to die")
        assert present.reasons[0] == "wish_dead: 'want to die' \u2014 present"
        past = triage("", "I was suicidal in 2012; how do I book an assessment?")
        assert "ideation: 'suicidal' \u2014 history, cancelled" in past.reasons

    @pytest.mark.parametrize(
        "message",
        [
            "tkt pas pour moi, je veux mourir a soir",
            "Ce n'est pas moi qui veux mourir, c'est la voix. Mais elle gagne.",
            "don't worry about calling back, I want to die",
        ],
    )
    def test_a_pseudo_negation_negates_nothing(self, message: str) -> None:
        found = mentions(message)
        assert found
        assert all("negation" not in effects for _, _, effects in found)
        assert triage("", message).crisis

    @pytest.mark.parametrize(
        ("message", "effect"),
        [
            ("History of suicidal ideation in 2019, none currently.", "history"),
            ("Suicide attempt last year, she is now stable.", "history"),
            ("Idéation suicidaire passive en 2020, évaluée hier, sans plan.", "history"),
            ("Suicidal thoughts years ago. Can ketamine bring those thoughts back?", "history"),
        ],
    )
    def test_present_words_that_state_safety_do_not_make_the_past_present(
        self, message: str, effect: str
    ) -> None:
        found = mentions(message)
        assert found
        assert all("present" not in effects for _, _, effects in found)
        assert any(effect in effects for _, _, effects in found)
        assert not triage("", message).crisis

    def test_not_safe_said_of_a_thing_is_not_a_person_unsafe(self) -> None:
        assert mentions("How long after an infusion should I pump, or is it not safe?") == []

    def test_an_advert_elsewhere_does_not_cancel_a_visitor_at_risk(self) -> None:
        message = "I saw your google ads and got a free quote. I want to kill myself tonight."
        assert triage("", message).crisis

    def test_a_denial_does_not_cancel_another_mention(self) -> None:
        result = triage("", "I'm not suicidal, but I have been cutting myself again.")
        assert result.crisis
        assert any("negated, cancelled" in reason for reason in result.reasons)


class TestDoubt:
    def test_distress_short_of_a_crisis_is_reviewed_today(self) -> None:
        result = triage("", "I feel hopeless about my depression lately.")
        assert not result.crisis
        assert result.topic == Topic.CLINICAL
        assert result.priority == Priority.HIGH
        assert result.reasons[0] == POSSIBLE_RISK

    def test_nothing_matched_says_so(self) -> None:
        result = triage("", "hello?")
        assert result.topic == Topic.GENERAL
        assert result.reasons[0] == "no topic terms matched"
