"""Stable ids of triage topics and priorities; staff, reports and later features rely on them."""

from enum import StrEnum


class Topic(StrEnum):
    CRISIS = "crisis"
    CLINICAL = "clinical"
    NEW_PATIENT = "new_patient"
    APPOINTMENT = "appointment"
    BILLING = "billing"
    REFERRAL = "referral"
    GENERAL = "general"
    SPAM = "spam"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# Topics a visitor may pick on the form: a hint the message text can override.
VISITOR_TOPICS: frozenset[Topic] = frozenset(
    {
        Topic.NEW_PATIENT,
        Topic.APPOINTMENT,
        Topic.CLINICAL,
        Topic.BILLING,
        Topic.REFERRAL,
        Topic.GENERAL,
    }
)

PRIORITY_OF_TOPIC: dict[Topic, Priority] = {
    Topic.CRISIS: Priority.URGENT,
    Topic.CLINICAL: Priority.HIGH,
    Topic.NEW_PATIENT: Priority.NORMAL,
    Topic.APPOINTMENT: Priority.NORMAL,
    Topic.BILLING: Priority.NORMAL,
    Topic.REFERRAL: Priority.NORMAL,
    Topic.GENERAL: Priority.LOW,
    Topic.SPAM: Priority.LOW,
}

# Lower rank sorts first in the phone team's queue.
PRIORITY_RANK: dict[Priority, int] = {
    Priority.URGENT: 0,
    Priority.HIGH: 1,
    Priority.NORMAL: 2,
    Priority.LOW: 3,
}
