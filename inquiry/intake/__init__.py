"""Public intake: schemas, guards, idempotent storage of inquiries."""
