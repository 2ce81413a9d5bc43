"""The clinic edits its triage rules and reloads them in the running service with SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from inquiry.triage.rules import DEFAULT_RULES_PATH
from tests.conftest import free_port, valid_inquiry

PHRASE = "purple elephant sings"


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def crisis_for(base: str, message: str) -> bool:
    response = httpx.post(f"{base}/api/v1/inquiries", json=valid_inquiry(message=message))
    assert response.status_code == 201
    return bool(response.json()["crisis"])


def test_sighup_reloads_the_clinics_rules_and_a_broken_file_changes_nothing(
    tmp_path: Path,
) -> None:
    rules = json.loads(DEFAULT_RULES_PATH.read_text())
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    port = free_port()
    env = {
        **os.environ,
        "INQUIRY_PORT": str(port),
        "INQUIRY_TRIAGE_RULES_PATH": str(path),
        "INQUIRY_RATE_LIMIT_ENABLED": "false",
    }
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
        wait_until_up(base)
        assert crisis_for(base, f"Hello, {PHRASE} today.") is False

        rules["crisis"]["phrases"].append(PHRASE)
        path.write_text(json.dumps(rules))
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert crisis_for(base, f"Hello, {PHRASE} today.") is True

        path.write_text("{ not json")
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert crisis_for(base, f"Hello, {PHRASE} again.") is True  # previous rules kept
        assert crisis_for(base, "I want to end my life.") is True
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "triage rules reloaded" in output
    assert "triage rules not reloaded" in output
    assert "rules.json" in output
