"""`inquiry serve` as a real process on its embedded defaults: migrates, serves, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import valid_inquiry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The service started the way the README starts it, in a fresh working folder."""
    port = free_port()
    env = {**os.environ, "INQUIRY_PORT": str(port)}
    env.pop("INQUIRY_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "inquiry", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.kill()
            pytest.fail(f"server did not start: {process.communicate()[0]}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        # PHIPA: message bodies never reach the logs.
        assert "treatment-resistant depression" not in output


class TestServe:
    def test_serve_creates_its_database_and_accepts_inquiries(
        self, server: str, tmp_path: Path
    ) -> None:
        assert httpx.get(f"{server}/readyz").json() == {"status": "ok", "database": "ok"}
        response = httpx.post(f"{server}/api/v1/inquiries", json=valid_inquiry())
        assert response.status_code == 201
        assert (tmp_path / "var" / "inquiry.db").exists()
        assert httpx.get(f"{server}/docs").status_code == 200
        assert "/api/v1/inquiries" in httpx.get(f"{server}/openapi.json").json()["paths"]
