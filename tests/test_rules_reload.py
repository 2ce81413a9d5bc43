"""The clinic edits its triage rules and reloads them in the running service with SIGHUP."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from inquiry.triage.rules import DEFAULT_RULES_PATH
from tests.conftest import running_server, valid_inquiry

PHRASE = "purple elephant sings"


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
    env = {"INQUIRY_TRIAGE_RULES_PATH": str(path), "INQUIRY_RATE_LIMIT_ENABLED": "false"}
    with running_server(tmp_path, env) as server:
        base = server.base
        assert crisis_for(base, f"Hello, {PHRASE} today.") is False

        rules["crisis"]["concepts"]["ideation"]["terms"].append(PHRASE)
        path.write_text(json.dumps(rules))
        server.process.send_signal(signal.SIGHUP)
        # Compiled in a thread, the service answering meanwhile: wait for it to say so.
        server.wait_for("triage rules reloaded")
        assert crisis_for(base, f"Hello, {PHRASE} today.") is True

        path.write_text("{ not json")
        server.process.send_signal(signal.SIGHUP)
        server.wait_for("triage rules not reloaded")
        assert crisis_for(base, f"Hello, {PHRASE} again.") is True  # previous rules kept
        assert crisis_for(base, "I want to end my life.") is True
    assert "triage rules reloaded" in server.output
    assert "triage rules not reloaded" in server.output
    assert "rules.json" in server.output


def test_visitors_are_answered_while_the_rules_compile(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(DEFAULT_RULES_PATH.read_text())
    env = {"INQUIRY_TRIAGE_RULES_PATH": str(path), "INQUIRY_RATE_LIMIT_ENABLED": "false"}
    with running_server(tmp_path, env) as server:
        server.process.send_signal(signal.SIGHUP)
        # Compiling takes the better part of a second; on the event loop it held this up.
        assert crisis_for(server.base, "I want to end my life.") is True
        answered_during_reload = "triage rules reloaded" not in server.log.read_text()
        server.wait_for("triage rules reloaded")
    assert answered_during_reload
