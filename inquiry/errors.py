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
