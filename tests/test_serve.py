"""`inquiry serve` as a real process on its embedded defaults: migrates, serves, stops cleanly."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.conftest import running_server, valid_inquiry


class TestServe:
    def test_serve_creates_its_database_and_accepts_inquiries(
        self, live_server: str, tmp_path: Path
    ) -> None:
        server = live_server
        assert httpx.get(f"{server}/readyz").json() == {"status": "ok", "database": "ok"}
        response = httpx.post(f"{server}/api/v1/inquiries", json=valid_inquiry())
        assert response.status_code == 201
        assert (tmp_path / "var" / "inquiry.db").exists()
        assert httpx.get(f"{server}/docs").status_code == 200
        assert "/api/v1/inquiries" in httpx.get(f"{server}/openapi.json").json()["paths"]

    def test_access_log_has_paths_but_no_queries_or_bodies(self, tmp_path: Path) -> None:
        with running_server(tmp_path, {}) as server:
            response = httpx.post(
                f"{server.base}/forms/contact",
                data={
                    "name": "Ann",
                    "email": "ann@example.ca",
                    "message": "My treatment-resistant depression is worse.",
                    "consent": "true",
                },
            )
            thanks = httpx.get(f"{server.base}{response.headers['location']}")
            assert thanks.status_code == 200
        assert "INFO inquiry.access POST /forms/contact 303" in server.output
        assert "INFO inquiry.access GET /forms/thanks 200" in server.output
        assert "receipt=" not in server.output
        assert "treatment-resistant" not in server.output
        assert "ann@example.ca" not in server.output

    def test_links_in_emails_lead_to_the_address_served(self, tmp_path: Path) -> None:
        # Unset, the public address is the one served: INQUIRY_PORT here (running_server).
        with running_server(tmp_path, {"INQUIRY_PUBLIC_BASE_URL": ""}) as server:
            response = httpx.post(f"{server.base}/api/v1/inquiries", json=valid_inquiry())
            reference = response.json()["reference"]
            admin = _wait_for_mail(tmp_path / "var" / "mail", f"{reference}*admin_notification*")
        body = admin.get_body(("plain",))
        assert body is not None
        link = f"{server.base}/staff/inquiries/{reference}"
        assert f"Staff link: {link}" in body.get_content()
        assert f"links in emails use {server.base}" in server.output


def _wait_for_mail(folder: Path, pattern: str) -> EmailMessage:
    deadline = time.monotonic() + 30
    while not (found := sorted(folder.glob(f"{pattern}.eml"))):
        assert time.monotonic() < deadline, f"no {pattern} in {sorted(folder.glob('*'))}"
        time.sleep(0.1)
    [path] = found
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
