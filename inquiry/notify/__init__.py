"""Notifications: render outbox messages and deliver them by SMTP, files or webhook."""
