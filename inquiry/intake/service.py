"""Intake: turn a valid submission into an inquiry, its triage and what it owes, stored at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from inquiry.callbacks.tasks import task_owed
from inquiry.config import Settings
from inquiry.contacts import contact_keys
from inquiry.errors import RateLimited
from inquiry.intake.guards import SubmissionLimiter
from inquiry.intake.schemas import ContactMethod, InquiryAccepted, InquiryIn
from inquiry.intake.writer import InquiryWriter, Outcome, Submission
from inquiry.intake.writer import request_hash as writer_request_hash
from inquiry.metrics import Metrics
from inquiry.models import CloseReason, InquiryStatus, utcnow
from inquiry.outbox import owed_on_intake
from inquiry.triage import TriageResult, triage
from inquiry.triage.taxonomy import Topic

Source = Literal["api", "form"]

_RECEIVED = {
    "en": "Thank you, {name}. We received your inquiry; your reference is {reference}.",
    "fr": "Merci, {name}. Nous avons bien reçu votre demande; votre référence est {reference}.",
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the route needs to answer: the stored (or replayed) outcome and its triage."""

    outcome: Outcome
    language: Literal["en", "fr"]
    crisis: bool


class IntakeService:
    """Accepts inquiries: guards, triages, and hands everything owed to the writer."""

    def __init__(
        self,
        settings: Settings,
        writer: InquiryWriter,
        limiter: SubmissionLimiter,
        metrics: Metrics | None = None,
    ):
        self._settings = settings
        self._writer = writer
        self._limiter = limiter
        self._metrics = metrics
        self._key_ttl = timedelta(hours=settings.idempotency_ttl_hours)

    async def accept(
        self,
        data: InquiryIn,
        *,
        source: Source,
        idempotency_key: str | None,
        status_code: int,
        render: Callable[[InquiryAccepted], bytes],
        client_ip: str,
        count_email: bool = True,
    ) -> Accepted:
        """Store the inquiry with everything owed on it; the answer is rendered by `render`."""
        result = triage(data.subject, data.message, _visitor_topic(data))
        language = data.language or result.language
        request_hash = (
            writer_request_hash(data.model_dump_json(), client_ip) if idempotency_key else None
        )
        received_at = utcnow()
        quarantine = _quarantine(data, result)
        crisis = result.crisis
        resources = self._settings.crisis_resources[language] if crisis else []

        def answer(reference: str) -> bytes:
            accepted = InquiryAccepted(
                reference=reference,
                received_at=received_at,
                language=language,
                crisis=crisis,
                crisis_resources=resources,
                message=_RECEIVED[language].format(name=data.name, reference=reference),
            )
            return render(accepted)

        # Someone in crisis who writes again and again is never turned away.
        if data.email and count_email and not result.crisis:
            earlier = await self._within_email_limit(
                data.email, idempotency_key, request_hash, answer
            )
            if earlier is not None:
                return Accepted(outcome=earlier, language=language, crisis=False)
        acknowledge = bool(data.email) and quarantine is None
        if acknowledge and data.email:
            acknowledge = await self._limiter.acknowledgement_allowed(data.email)
        submission = Submission(
            inquiry=_inquiry_row(data, result, language, source, quarantine, received_at),
            outbox=owed_on_intake(
                self._settings,
                visitor_email=data.email,
                topic=result.topic,
                crisis=crisis,
                quarantined=quarantine is not None,
                acknowledge=acknowledge,
                now=received_at,
            ),
            contact_keys=contact_keys(name=data.name, email=data.email, phone=data.phone),
            render=answer,
            status_code=status_code,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            idempotency_ttl=self._key_ttl,
            callback_task=task_owed(
                phone=data.phone,
                email=data.email,
                prefers_phone=data.preferred_contact is ContactMethod.PHONE,
                name=data.name,
                language=language,
                callback_window=data.callback_window.value,
                voicemail_ok=data.voicemail_ok,
                topic=result.topic,
                priority=result.priority,
                quarantined=quarantine is not None,
                now=received_at,
                settings=self._settings,
            ),
        )
        outcome = await self._writer.submit(submission)
        if self._metrics is not None and not outcome.replayed:
            self._metrics.accepted(
                source=source,
                topic=result.topic.value,
                priority=result.priority.value,
                crisis=crisis,
            )
        return Accepted(outcome=outcome, language=language, crisis=crisis)

    async def _within_email_limit(
        self,
        email: str,
        key: str | None,
        request_hash: str | None,
        answer: Callable[[str], bytes],
    ) -> Outcome | None:
        """Count the email; over the limit, a retry of a stored request gets its first answer."""
        try:
            await self._limiter.hit_email(email)
        except RateLimited:
            if key and request_hash:
                earlier = await self._writer.earlier_answer(key, request_hash, answer)
                if earlier is not None:
                    return earlier
            raise
        return None


def _visitor_topic(data: InquiryIn) -> Topic | None:
    return Topic(data.topic.value) if data.topic else None


def _quarantine(data: InquiryIn, result: TriageResult) -> str | None:
    """Why the inquiry is kept as spam, never answered (it is stored closed as spam); None
    for one to answer."""
    # Crisis outranks every spam signal: a browser's autofill can fill a honeypot too,
    # and a person in crisis must never be left unanswered in a quarantine.
    if result.crisis:
        return None
    if data.website:
        return "honeypot"
    if result.topic is Topic.SPAM:
        return "triage_spam"
    return None


def _inquiry_row(
    data: InquiryIn,
    result: TriageResult,
    language: str,
    source: Source,
    quarantine: str | None,
    received_at: datetime,
) -> dict[str, Any]:
    closed = quarantine is not None
    return {
        "created_at": received_at,
        "status": (InquiryStatus.CLOSED if closed else InquiryStatus.NEW).value,
        "close_reason": CloseReason.SPAM.value if closed else None,
        "quarantine_reason": quarantine,
        "name": data.name,
        "email": data.email,
        "phone": data.phone,
        "preferred_contact": data.preferred_contact.value if data.preferred_contact else "email",
        "callback_window": data.callback_window.value,
        "voicemail_ok": data.voicemail_ok,
        "visitor_topic": data.topic.value if data.topic else None,
        "subject": data.subject,
        "message": data.message,
        "language": language,
        "consent": data.consent,
        "source": source,
        "source_page": data.source_page,
        "form_subject": data.form_subject,
        "topic": result.topic.value,
        "priority": result.priority.value,
        "crisis": result.crisis,
        "triage_reasons": json.dumps(list(result.reasons), ensure_ascii=False),
    }
