"""Words of the public pages in English and French."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "fr"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Contact the clinic",
        "required": "required",
        "contact_hint": "Give an email address, a phone number, or both: we need at least one "
        "to reply.",
        "consent_label": "Consent",
        "privacy_summary": "How we handle your information",
        "error_summary_title": "Please fix the following",
        "colon": ":",
        "thanks_crisis_next": "A member of our team will contact you as soon as possible. "
        "Please keep your reference if you call us at {phone}.",
        "logo_alt": "{clinic}",
        "intro": "Questions about IV ketamine treatment, appointments or billing? Send us a "
        "message and our team will get back to you.",
        "crisis_banner": "If you are in crisis or thinking about suicide, do not wait for a "
        "reply: call 911, or call or text 9-8-8 (24/7).",
        "name": "Your name",
        "email": "Email",
        "phone": "Phone",
        "preferred_contact": "How should we reach you?",
        "by_email": "By email",
        "by_phone": "By phone",
        "callback_window": "Best time to call",
        "window_any": "Any time",
        "window_morning": "Morning",
        "window_afternoon": "Afternoon",
        "window_evening": "Evening",
        "voicemail_ok": "You may leave a voicemail",
        "topic": "What is it about?",
        "topic_none": "Choose (optional)",
        "topic_new_patient": "Becoming a patient",
        "topic_appointment": "An appointment",
        "topic_clinical": "My treatment (current patients)",
        "topic_billing": "Cost, coverage or billing",
        "topic_referral": "Referring a patient",
        "topic_general": "Something else",
        "subject": "Subject (optional)",
        "message": "Your message",
        "message_hint": "Please share only what we need to help you.",
        "consent": "I agree that the clinic may contact me about this inquiry.",
        "honeypot": "Leave this field empty",
        "send": "Send",
        "switch_language": "Français",
        "storage_unavailable": "Your message could not be saved just now. Please try again in "
        "a minute, or call us at {phone}.",
        "form_unreadable": "Part of the form could not be read. Please check it and send it again.",
        "rate_limited": "Too many messages were sent from here. Please wait a few minutes, "
        "or call us.",
        "thanks_title": "Thank you",
        "thanks_body": "We received your message. Your reference is",
        "thanks_next": "Our team will contact you, usually within one business day. Please "
        "keep your reference if you call us at {phone}.",
        "thanks_expired": "Thank you. If you need to reach us, call {phone}.",
        "crisis_title": "Please reach out for help now",
        "crisis_intro": "You do not have to wait for our call. Help is available right now:",
    },
    "fr": {
        "title": "Contactez la clinique",
        "required": "obligatoire",
        "contact_hint": "Indiquez une adresse courriel, un numéro de téléphone, ou les deux\u202f: "
        "il nous en faut au moins un pour vous répondre.",
        "consent_label": "Consentement",
        "privacy_summary": "Comment nous traitons vos renseignements",
        "error_summary_title": "Veuillez corriger ce qui suit",
        # French typography: a narrow no-break space before the colon.
        "colon": "\u202f:",
        "thanks_crisis_next": "Un membre de notre équipe communiquera avec vous dès que "
        "possible. Gardez votre référence si vous nous appelez au {phone}.",
        "logo_alt": "{clinic}",
        "intro": "Des questions sur le traitement à la kétamine par voie intraveineuse, les "
        "rendez-vous ou la facturation? Écrivez-nous et notre équipe vous répondra.",
        "crisis_banner": "Si vous êtes en crise ou pensez au suicide, n'attendez pas notre "
        "réponse\u202f: composez le 911, ou appelez ou textez le 9-8-8 (24/7).",
        "name": "Votre nom",
        "email": "Courriel",
        "phone": "Téléphone",
        "preferred_contact": "Comment vous joindre?",
        "by_email": "Par courriel",
        "by_phone": "Par téléphone",
        "callback_window": "Meilleur moment pour vous appeler",
        "window_any": "N'importe quand",
        "window_morning": "Le matin",
        "window_afternoon": "L'après-midi",
        "window_evening": "Le soir",
        "voicemail_ok": "Vous pouvez laisser un message vocal",
        "topic": "À quel sujet?",
        "topic_none": "Choisir (facultatif)",
        "topic_new_patient": "Devenir patient",
        "topic_appointment": "Un rendez-vous",
        "topic_clinical": "Mon traitement (patients actuels)",
        "topic_billing": "Coût, couverture ou facturation",
        "topic_referral": "Orienter un patient",
        "topic_general": "Autre chose",
        "subject": "Objet (facultatif)",
        "message": "Votre message",
        "message_hint": "N'indiquez que ce dont nous avons besoin pour vous aider.",
        "consent": "J'accepte que la clinique me contacte au sujet de cette demande.",
        "honeypot": "Laissez ce champ vide",
        "send": "Envoyer",
        "switch_language": "English",
        "storage_unavailable": "Votre message n'a pas pu être enregistré pour le moment. "
        "Veuillez réessayer dans une minute, ou appelez-nous au {phone}.",
        "form_unreadable": "Une partie du formulaire n'a pas pu être lue. Veuillez la "
        "vérifier et l'envoyer de nouveau.",
        "rate_limited": "Trop de messages ont été envoyés d'ici. Veuillez patienter quelques "
        "minutes, ou appelez-nous.",
        "thanks_title": "Merci",
        "thanks_body": "Nous avons bien reçu votre message. Votre référence est",
        "thanks_next": "Notre équipe communiquera avec vous, habituellement dans un délai d'un "
        "jour ouvrable. Gardez votre référence si vous nous appelez au {phone}.",
        "thanks_expired": "Merci. Pour nous joindre, composez le {phone}.",
        "crisis_title": "Demandez de l'aide dès maintenant",
        "crisis_intro": "Vous n'avez pas à attendre notre appel. De l'aide est disponible "
        "tout de suite\u202f:",
    },
}


def pick_language(explicit: str | None, accept_language: str | None) -> Language:
    """The visitor's choice if given, else the first of en/fr in Accept-Language, else en."""
    if explicit in ("en", "fr"):
        return "fr" if explicit == "fr" else "en"
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()[:2]
        if tag in ("en", "fr"):
            return "fr" if tag == "fr" else "en"
    return "en"
