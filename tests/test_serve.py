"""`inquiry serve` as a real process on its embedded defaults: migrates, serves, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import valid_inquiry


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
