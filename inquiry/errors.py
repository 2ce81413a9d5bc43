"""Domain errors. Each carries its HTTP status and a stable machine-readable code."""

from __future__ import annotations


class InquiryError(Exception):
    """Base of every error the service answers on purpose."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = headers or {}


class PayloadTooLarge(InquiryError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(InquiryError):
    status_code = 415
    code = "unsupported_media_type"
    message = "Send the inquiry as application/json."


class OriginNotAllowed(InquiryError):
    status_code = 403
    code = "origin_not_allowed"
    message = "Submissions from this site are not allowed."


class RateLimited(InquiryError):
    status_code = 429
    code = "rate_limited"
    message = "Too many submissions. Please wait a little and try again, or call the clinic."


class IdempotencyKeyReused(InquiryError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class StorageUnavailable(InquiryError):
    status_code = 503
    code = "storage_unavailable"
    message = "The inquiry could not be stored just now. Please try again, or call the clinic."


class DatabaseUnavailable(InquiryError):
    """The database could not be reached, or the connection was lost mid-request: the
    request's transaction did not complete (unless the connection was lost while it
    committed, which nobody can tell)."""

    status_code = 503
    code = "database_unavailable"
    message = "The service cannot reach its database just now. Please try again."


# Callback queue and staff


class NotAuthenticated(InquiryError):
    status_code = 401
    code = "not_authenticated"
    message = "Sign in, or send a valid API token as 'Authorization: Bearer <token>'."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    message = "The email address or password is not right."


class TwoFactorRequired(NotAuthenticated):
    code = "two_factor_required"
    message = "Enter the code from your authenticator app (totp_code), or a recovery code."


class InvalidTwoFactorCode(NotAuthenticated):
    code = "invalid_two_factor_code"
    message = "The code is not right, or was already used. Wait for the next one and try again."


class LoginThrottled(InquiryError):
    status_code = 429
    code = "login_throttled"
    message = "Too many failed sign-ins. Please wait before trying again."


class SignInUnavailable(InquiryError):
    status_code = 503
    code = "sign_in_unavailable"
    message = "Signing in is not possible just now. Please try again in a minute."


class SignInBusy(InquiryError):
    status_code = 503
    code = "sign_in_busy"
    message = "Too many sign-ins at once. Please try again in a moment."


class WrongPassword(InquiryError):
    status_code = 403
    code = "wrong_password"
    message = "The current password is not right."


class Forbidden(InquiryError):
    status_code = 403
    code = "forbidden"
    message = "Your role does not allow this."


class TwoFactorEnrolmentRequired(Forbidden):
    code = "two_factor_enrolment_required"
    message = (
        "Set up two-factor sign-in first (POST /api/v1/staff/me/two-factor), or sign in "
        "again with your code."
    )


class SessionRequired(Forbidden):
    code = "session_required"
    message = "This needs a signed-in session that passed two-factor sign-in, not an API token."


class NotFound(InquiryError):
    status_code = 404
    code = "not_found"
    message = "There is nothing with this id."


class Conflict(InquiryError):
    status_code = 409
    code = "conflict"
    message = "This conflicts with what is stored."


class ClaimConflict(Conflict):
    code = "claim_conflict"
    message = "Someone else holds this task."


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"
    message = "The task cannot go there from where it is."


class AssignedElsewhere(Conflict):
    code = "assigned_elsewhere"
    message = "Another staff member has this inquiry; an admin can reassign it."


class StaffExists(Conflict):
    code = "staff_exists"
    message = "A staff account with this email address exists."


class TwoFactorNotEnabled(Conflict):
    code = "two_factor_not_enabled"
    message = "Set up two-factor sign-in first."


class InvalidPassword(InquiryError):
    status_code = 422
    code = "invalid_password"
    message = "The password is too short."


class InvalidSchedule(InquiryError):
    status_code = 422
    code = "invalid_schedule"
    message = "Choose a time in the future, within a year."


class InvalidStatusChange(InquiryError):
    status_code = 422
    code = "invalid_status_change"
    message = "This status change is missing something or has something it should not."


class ReasonRequired(InquiryError):
    status_code = 422
    code = "reason_required"
    message = "Give a reason: putting off an urgent or high-priority call needs one."
