"""The moves an inquiry may make between statuses: the one table, checked by `Lifecycle`.

Anything not in the table is refused (409 transition_not_allowed). Staying in a status is
not a move, except waiting again with a new date.
"""

from __future__ import annotations

from dataclasses import dataclass

from inquiry.models import CloseReason, InquiryStatus

NEW = InquiryStatus.NEW
IN_PROGRESS = InquiryStatus.IN_PROGRESS
WAITING = InquiryStatus.WAITING
CLOSED = InquiryStatus.CLOSED


@dataclass(frozen=True, slots=True)
class Transition:
    why: str
    # Only out of an inquiry closed for this reason.
    only_closed_as: CloseReason | None = None


TRANSITIONS: dict[tuple[InquiryStatus, InquiryStatus], Transition] = {
    (NEW, IN_PROGRESS): Transition("someone acts: a claim, an attempt, a note, an assignment"),
    (NEW, WAITING): Transition("waiting on the visitor until a date"),
    (NEW, CLOSED): Transition("closed with a reason, before anyone worked it"),
    (IN_PROGRESS, WAITING): Transition("waiting on the visitor until a date"),
    (IN_PROGRESS, CLOSED): Transition("closed with a reason, by staff or by a call's outcome"),
    (WAITING, IN_PROGRESS): Transition("its date has come, or staff take it up before"),
    (WAITING, WAITING): Transition("waiting until another date"),
    (WAITING, CLOSED): Transition("closed with a reason while waiting"),
    (CLOSED, IN_PROGRESS): Transition("reopened"),
    (CLOSED, NEW): Transition("released from quarantine: not spam", CloseReason.SPAM),
}


def allowed(current: InquiryStatus, closed_as: str | None, target: InquiryStatus) -> bool:
    """Whether an inquiry in `current` (closed as `closed_as`, if closed) may move to `target`."""
    rule = TRANSITIONS.get((current, target))
    if rule is None:
        return False
    return rule.only_closed_as is None or rule.only_closed_as == closed_as
