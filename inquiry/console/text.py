"""Words of the staff console in English and French, and times in the clinic's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from inquiry.models import as_utc
from inquiry.web.i18n import Language

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "console": "Staff console",
        "skip": "Skip to content",
        "nav": "Console",
        "queue_link": "Callback queue",
        "account_link": "Two-factor sign-in",
        "sign_out": "Sign out",
        "signed_in_as": "Signed in as {who}",
        "language": "Language",
        "language_switch": "Français",
        "sign_in_title": "Sign in",
        "email": "Email",
        "name": "Name",
        "password": "Password",
        "sign_in": "Sign in",
        "wrong_credentials": "The email or password is not right.",
        "form_expired": "This page was open too long. Please sign in again.",
        "throttled": "Too many failed sign-ins. Please wait a few minutes and try again.",
        "sign_in_unavailable": "Signing in is not possible just now. Please try again in a minute.",
        "code_title": "Two-factor sign-in",
        "code": "Code from your authenticator app",
        "code_hint": "Six digits, or one of your recovery codes.",
        "code_wrong": "The code is not right, or was already used. Wait for the next one and "
        "try again.",
        "verify": "Verify",
        "queue_title": "Callback queue",
        "next_call": "Next call",
        "queue_empty": "The queue is empty: nobody is waiting for a call.",
        "nothing_to_claim": "Nothing to call right now: every task is held or scheduled later.",
        "filters": "Filters",
        "mine": "Mine",
        "priority": "Priority",
        "any_priority": "Any priority",
        "apply": "Apply",
        "priority_urgent": "Urgent",
        "priority_high": "High",
        "priority_normal": "Normal",
        "priority_low": "Low",
        "crisis": "Crisis",
        "overdue": "Overdue",
        "due": "Due",
        "due_in": "due in {d}",
        "overdue_by": "overdue {d}",
        "ago": "{d} ago",
        "in": "in {d}",
        "window": "Best time to call",
        "window_any": "Any time",
        "window_morning": "Morning",
        "window_afternoon": "Afternoon",
        "window_evening": "Evening",
        "attempts": "Attempts",
        "lang_en": "English",
        "lang_fr": "French",
        "held_by_you": "You hold it",
        "held_by_other": "Held by a colleague",
        "scheduled": "Next try {when}",
        "new_urgent": "New urgent call in the queue: {name}.",
        "queue_updated": "The queue was updated.",
        "task_title": "Call {name}",
        "phone": "Phone",
        "reference": "Reference",
        "voicemail": "Voicemail",
        "voicemail_yes": "Allowed",
        "voicemail_no": "Not allowed",
        "topic": "Topic",
        "triage_reasons": "Why",
        "subject": "Subject",
        "message": "Message",
        "status": "Status",
        "claim_left": "Your claim ends {when}.",
        "claim": "Claim this call",
        "outcome": "Outcome of the call",
        "note": "Note (optional)",
        "keep_open": "Keep the inquiry open (there is more to do)",
        "outcome_reached": "Reached",
        "outcome_voicemail": "Voicemail",
        "outcome_no_answer": "No answer",
        "outcome_busy": "Busy",
        "outcome_wrong_number": "Wrong number",
        "outcome_declined": "Declined",
        "outcome_replied": "Replied",
        "outcome_no_reply_needed": "No reply needed",
        "outcome_bounced": "Bounced",
        "recorded": "Recorded: {outcome}.",
        "reschedule": "Reschedule",
        "reschedule_at": "New time (clinic time, {zone})",
        "release": "Release",
        "released": "The call went back to the queue.",
        "rescheduled": "The call was rescheduled.",
        "history": "Previous attempts",
        "no_attempts": "No attempt yet.",
        "closed": "This task is closed: {reason}.",
        "task_status_open": "Waiting",
        "task_status_claimed": "Claimed",
        "task_status_done": "Done",
        "task_status_unreachable": "Unreachable",
        "task_status_cancelled": "Cancelled",
        "task_status_awaiting_decision": "Awaiting an admin's decision",
        "channel": "Answer by",
        "channel_phone": "Phone call",
        "channel_email": "Email reply",
        "inquiry_status": "Inquiry",
        "inquiry_title": "Inquiry {reference}",
        "open_task": "Open its callback task",
        "no_task": "This inquiry has no callback task.",
        "problem_claim_conflict": "A colleague holds this call.",
        "problem_transition_not_allowed": "This cannot be done to the call as it stands.",
        "problem_invalid_schedule": "Choose a time in the future, within a year.",
        "problem_not_found": "There is nothing here.",
        "problem_form": "This form could not be accepted. Reload the page and try again.",
        "not_found_title": "Not found",
        "two_factor_title": "Two-factor sign-in",
        "two_factor_on": "Two-factor sign-in is on. Recovery codes left: {left}.",
        "two_factor_off": "Two-factor sign-in is off.",
        "two_factor_owed": "Your account must use two-factor sign-in. Set it up to continue.",
        "two_factor_start": "Set up an authenticator app",
        "two_factor_replace": "Replace your authenticator app",
        "two_factor_scan": "Scan this code with your authenticator app, or type in the key "
        "below. Then enter the six-digit code the app shows.",
        "two_factor_key": "Key",
        "two_factor_confirm": "Turn on two-factor sign-in",
        "two_factor_fresh": "Sign in again with your code to change two-factor sign-in.",
        "recovery_title": "Your recovery codes",
        "recovery_intro": "Two-factor sign-in is on. Keep these ten codes somewhere safe: each "
        "signs you in once if you lose your phone. They are shown only now.",
        "continue": "Continue",
        "topic_crisis": "Crisis",
        "topic_clinical": "Clinical",
        "topic_new_patient": "New patient",
        "topic_appointment": "Appointment",
        "topic_billing": "Billing",
        "topic_referral": "Referral",
        "topic_general": "General",
        "topic_spam": "Spam",
        "inquiry_new": "New",
        "inquiry_in_progress": "In progress",
        "inquiry_waiting": "Waiting on the visitor",
        "inquiry_closed": "Closed",
        "reason_resolved": "resolved",
        "reason_unreachable": "unreachable",
        "reason_duplicate": "duplicate",
        "reason_spam": "spam",
        "reason_withdrawn": "withdrawn",
        "reason_no_action_needed": "no action needed",
        "error": "Error",
    },
    "fr": {
        "console": "Console du personnel",
        "skip": "Aller au contenu",
        "nav": "Console",
        "queue_link": "File de rappels",
        "account_link": "Connexion à deux facteurs",
        "sign_out": "Se déconnecter",
        "signed_in_as": "Connecté·e : {who}",
        "language": "Langue",
        "language_switch": "English",
        "sign_in_title": "Connexion",
        "email": "Courriel",
        "name": "Nom",
        "password": "Mot de passe",
        "sign_in": "Se connecter",
        "wrong_credentials": "Le courriel ou le mot de passe n'est pas le bon.",
        "form_expired": "Cette page est restée ouverte trop longtemps. Veuillez vous reconnecter.",
        "throttled": "Trop de connexions échouées. Veuillez patienter quelques minutes et "
        "réessayer.",
        "sign_in_unavailable": "La connexion est impossible pour le moment. Veuillez réessayer "
        "dans une minute.",
        "code_title": "Connexion à deux facteurs",
        "code": "Code de votre application d'authentification",
        "code_hint": "Six chiffres, ou l'un de vos codes de récupération.",
        "code_wrong": "Le code n'est pas le bon, ou a déjà servi. Attendez le suivant et "
        "réessayez.",
        "verify": "Vérifier",
        "queue_title": "File de rappels",
        "next_call": "Appel suivant",
        "queue_empty": "La file est vide\u202f: personne n'attend d'appel.",
        "nothing_to_claim": "Rien à appeler pour l'instant\u202f: chaque tâche est prise ou "
        "prévue plus tard.",
        "filters": "Filtres",
        "mine": "Les miens",
        "priority": "Priorité",
        "any_priority": "Toute priorité",
        "apply": "Appliquer",
        "priority_urgent": "Urgente",
        "priority_high": "Haute",
        "priority_normal": "Normale",
        "priority_low": "Basse",
        "crisis": "Crise",
        "overdue": "En retard",
        "due": "Échéance",
        "due_in": "échéance dans {d}",
        "overdue_by": "en retard de {d}",
        "ago": "il y a {d}",
        "in": "dans {d}",
        "window": "Meilleur moment pour appeler",
        "window_any": "N'importe quand",
        "window_morning": "Le matin",
        "window_afternoon": "L'après-midi",
        "window_evening": "Le soir",
        "attempts": "Tentatives",
        "lang_en": "Anglais",
        "lang_fr": "Français",
        "held_by_you": "Vous l'avez prise",
        "held_by_other": "Prise par un·e collègue",
        "scheduled": "Prochain essai {when}",
        "new_urgent": "Nouvel appel urgent dans la file\u202f: {name}.",
        "queue_updated": "La file a été mise à jour.",
        "task_title": "Appeler {name}",
        "phone": "Téléphone",
        "reference": "Référence",
        "voicemail": "Message vocal",
        "voicemail_yes": "Permis",
        "voicemail_no": "Non permis",
        "topic": "Sujet",
        "triage_reasons": "Pourquoi",
        "subject": "Objet",
        "message": "Message",
        "status": "Statut",
        "claim_left": "Votre prise se termine {when}.",
        "claim": "Prendre cet appel",
        "outcome": "Résultat de l'appel",
        "note": "Note (facultative)",
        "keep_open": "Garder la demande ouverte (il reste à faire)",
        "outcome_reached": "Joint",
        "outcome_voicemail": "Message vocal",
        "outcome_no_answer": "Pas de réponse",
        "outcome_busy": "Occupé",
        "outcome_wrong_number": "Mauvais numéro",
        "outcome_declined": "Refusé",
        "outcome_replied": "Répondu",
        "outcome_no_reply_needed": "Aucune réponse requise",
        "outcome_bounced": "Retourné",
        "recorded": "Enregistré\u202f: {outcome}.",
        "reschedule": "Reporter",
        "reschedule_at": "Nouvelle heure (heure de la clinique, {zone})",
        "release": "Remettre dans la file",
        "released": "L'appel est retourné dans la file.",
        "rescheduled": "L'appel a été reporté.",
        "history": "Tentatives précédentes",
        "no_attempts": "Aucune tentative pour l'instant.",
        "closed": "Cette tâche est fermée\u202f: {reason}.",
        "task_status_open": "En attente",
        "task_status_claimed": "Prise",
        "task_status_done": "Terminée",
        "task_status_unreachable": "Injoignable",
        "task_status_cancelled": "Annulée",
        "task_status_awaiting_decision": "En attente d'une décision d'un administrateur",
        "channel": "Répondre par",
        "channel_phone": "Appel",
        "channel_email": "Courriel",
        "inquiry_status": "Demande",
        "inquiry_title": "Demande {reference}",
        "open_task": "Ouvrir sa tâche de rappel",
        "no_task": "Cette demande n'a pas de tâche de rappel.",
        "problem_claim_conflict": "Un·e collègue a pris cet appel.",
        "problem_transition_not_allowed": "Ce n'est pas possible pour l'appel dans son état "
        "actuel.",
        "problem_invalid_schedule": "Choisissez une heure à venir, d'ici un an.",
        "problem_not_found": "Il n'y a rien ici.",
        "problem_form": "Ce formulaire n'a pas pu être accepté. Rechargez la page et réessayez.",
        "not_found_title": "Introuvable",
        "two_factor_title": "Connexion à deux facteurs",
        "two_factor_on": "La connexion à deux facteurs est activée. Codes de récupération "
        "restants\u202f: {left}.",
        "two_factor_off": "La connexion à deux facteurs est désactivée.",
        "two_factor_owed": "Votre compte doit utiliser la connexion à deux facteurs. "
        "Configurez-la pour continuer.",
        "two_factor_start": "Configurer une application d'authentification",
        "two_factor_replace": "Remplacer votre application d'authentification",
        "two_factor_scan": "Balayez ce code avec votre application d'authentification, ou "
        "saisissez la clé ci-dessous. Entrez ensuite le code à six chiffres de l'application.",
        "two_factor_key": "Clé",
        "two_factor_confirm": "Activer la connexion à deux facteurs",
        "two_factor_fresh": "Reconnectez-vous avec votre code pour modifier la connexion à "
        "deux facteurs.",
        "recovery_title": "Vos codes de récupération",
        "recovery_intro": "La connexion à deux facteurs est activée. Gardez ces dix codes en "
        "lieu sûr\u202f: chacun vous connecte une fois si vous perdez votre téléphone. Ils ne "
        "sont affichés que maintenant.",
        "continue": "Continuer",
        "topic_crisis": "Crise",
        "topic_clinical": "Clinique",
        "topic_new_patient": "Nouveau patient",
        "topic_appointment": "Rendez-vous",
        "topic_billing": "Facturation",
        "topic_referral": "Orientation",
        "topic_general": "Général",
        "topic_spam": "Pourriel",
        "inquiry_new": "Nouvelle",
        "inquiry_in_progress": "En cours",
        "inquiry_waiting": "En attente de la personne",
        "inquiry_closed": "Fermée",
        "reason_resolved": "résolue",
        "reason_unreachable": "injoignable",
        "reason_duplicate": "doublon",
        "reason_spam": "pourriel",
        "reason_withdrawn": "retirée",
        "reason_no_action_needed": "aucune action requise",
        "error": "Erreur",
    },
}


class ClinicTime:
    """Times as staff read them: the clinic's wall clock, and how far from now."""

    def __init__(self, zone: str, language: Language, now: datetime) -> None:
        self._zone = ZoneInfo(zone)
        self._text = TEXT[language]
        self._language = language
        self.now = now

    def local(self, moment: datetime) -> datetime:
        return as_utc(moment).astimezone(self._zone)

    def past(self, moment: datetime) -> bool:
        return as_utc(moment) < self.now

    def show(self, moment: datetime) -> str:
        """'10:25' today, else 'Jun 3, 10:25' (en) or '3 juin, 10 h 25' (fr)."""
        local = self.local(moment)
        today = self.local(self.now).date() == local.date()
        if self._language == "fr":
            clock = f"{local.hour} h {local.minute:02d}"
            day = f"{local.day} {_FR_MONTHS[local.month - 1]}"
        else:
            clock = f"{local.hour:02d}:{local.minute:02d}"
            day = f"{local.strftime('%b')} {local.day}"
        return clock if today else f"{day}, {clock}"

    def relative(self, moment: datetime) -> str:
        """'in 25 min' or '1 h 10 ago'."""
        delta = as_utc(moment) - self.now
        key = "in" if delta >= timedelta(0) else "ago"
        return self._text[key].format(d=self.span(abs(delta)))

    def due(self, moment: datetime) -> str:
        """'due in 25 min' or 'overdue 1 h 10'."""
        delta = as_utc(moment) - self.now
        key = "due_in" if delta >= timedelta(0) else "overdue_by"
        return self._text[key].format(d=self.span(abs(delta)))

    def span(self, delta: timedelta) -> str:
        minutes = int(delta.total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 48:
            return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
        days = "j" if self._language == "fr" else "d"
        return f"{hours // 24} {days}"


_FR_MONTHS = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juill.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip
