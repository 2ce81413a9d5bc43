"""`inquiry serve` and `inquiry worker` as real processes with JSON logs and metrics on: a
scripted run, then each process's scrape against what the run did and the logs scanned for
the visitor data that was submitted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port, running_server, valid_inquiry
from tests.notify.conftest import RecordingHandler, Sink
from tests.observability.conftest import Scrape, scrape

URL = "/api/v1/inquiries"
AGENT = "agent@ketaminetherapyclinic.ca"
VISITOR = {
    "name": "Geneviève Ouellette",
    "email": "genevieve.ouellette@example.ca",
    "phone": "(613) 555-0143",
    "message": "Since my lingering migraine aura began, does ketamine interact with sumatriptan?",
}
CRISIS = "I can't go on, I am thinking of ending my life tonight."
# Everything a visitor typed in the run, as it could appear in a log (phones normalised too).
SUBMITTED = (
    "Ouellette",
    "Genevi",
    "genevieve",
    "555-0143",
    "5550143",
    "migraine",
    "Marie Tremblay",
    "marie@example.ca",
    "555-0199",
    "5550199",
    "treatment-resistant",
    "ending my life",
    "sam@example.ca",
    "Ann Smith",
    "ann@example.ca",
    "Starting treatment",
)
GIVEN_REQUEST_ID = "edge-7f3c9a12-0001"


@dataclass
class Run:
    serve: Scrape
    worker: Scrape
    serve_log: str
    worker_log: str
    database: Path
    request_ids: list[str]


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INQUIRY_")}
    return {**env, **settings}


def _staff(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "inquiry", "staff", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _script(base: str, token: str) -> list[str]:
    """Four inquiries (a crisis, one from the form), two refusals, and a call; returns the
    request id of every answer."""
    answers: list[httpx.Response] = []
    staff = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        answers.append(
            http.post(URL, json=valid_inquiry(), headers={"X-Request-ID": GIVEN_REQUEST_ID})
        )
        crisis = valid_inquiry(message=CRISIS, email="sam@example.ca")
        # Not an id: replaced, never written to the log as sent.
        answers.append(http.post(URL, json=crisis, headers={"X-Request-ID": "marie@example.ca"}))
        answers.append(http.post(URL, json=valid_inquiry(preferred_contact="phone", **VISITOR)))
        form = {"name": "Ann Smith", "email": "ann@example.ca", "message": "Starting treatment?"}
        answers.append(http.post("/forms/contact", data={**form, "consent": "on"}))
        answers.append(http.post(URL, content=b"{", headers={"Content-Type": "application/json"}))
        answers.append(http.post(URL, content=b"hi", headers={"Content-Type": "text/plain"}))
        claimed = http.post("/api/v1/staff/callbacks/claim-next", headers=staff)
        answers.append(claimed)
        task = claimed.json()["task"]
        answers.append(
            http.post(
                f"/api/v1/staff/callbacks/{task['id']}/attempts",
                json={"outcome": "no_answer", "note": ""},
                headers=staff,
            )
        )
    statuses = [answer.status_code for answer in answers]
    assert statuses == [201, 201, 201, 303, 422, 415, 200, 200], statuses
    assert task["priority"] == "urgent"
    return [answer.headers["X-Request-ID"] for answer in answers]


def _outbox_rows(database: Path) -> int:
    with sqlite3.connect(database) as db:
        found: int = db.execute("SELECT count(*) FROM outbox_message").fetchone()[0]
        return found


@contextmanager
def _worker(folder: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    """`inquiry worker` until the block ends (SIGTERM); yields the file of its output."""
    log = folder / "worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "inquiry", "worker"],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()


def _wait_for(what: str, done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The service and one worker on the embedded SQLite, a relay that refuses one message
    for good (quoting an address, as relays do), and the scripted run."""
    folder = tmp_path_factory.mktemp("live")
    sink = Sink(port=free_port())
    sink.script = [f"550 5.7.1 <{VISITOR['email']}>: refused by policy"]
    relay = Controller(RecordingHandler(sink), hostname="127.0.0.1", port=sink.port)
    relay.start()
    common = {
        "INQUIRY_LOG_FORMAT": "json",
        "INQUIRY_WORKER_IN_PROCESS": "false",
        "INQUIRY_RATE_LIMIT_ENABLED": "false",
        "INQUIRY_MAIL_TRANSPORT": "smtp",
        "INQUIRY_SMTP_HOST": "127.0.0.1",
        "INQUIRY_SMTP_PORT": str(sink.port),
        "INQUIRY_ONCALL_EMAILS": "oncall@ketaminetherapyclinic.ca",
        "INQUIRY_OUTBOX_POLL_SECONDS": "0.2",
    }
    serve_port, worker_port = free_port(), free_port()
    database = folder / "var" / "inquiry.db"
    try:
        with running_server(folder, {**common, "INQUIRY_METRICS_PORT": str(serve_port)}) as server:
            env = _env(**common)
            _staff(folder, env, "add", AGENT, "--no-password")
            token = _staff(folder, env, "token", AGENT).strip()
            request_ids = _script(server.base, token)
            worker_env = _env(**common, INQUIRY_METRICS_PORT=str(worker_port))
            with _worker(folder, worker_env, worker_port) as worker_log:
                owed = _outbox_rows(database)

                def all_attempted() -> bool:
                    scraped = scrape(worker_port)
                    counted = sum(
                        scraped.series("inquiry_outbox_deliveries_total", "kind").values()
                    )
                    counted += sum(scraped.series("inquiry_outbox_failures_total", "kind").values())
                    return counted == owed

                _wait_for(f"{owed} messages attempted", all_attempted)
                worker_scrape = scrape(worker_port)
            serve_scrape = scrape(serve_port)
            time.sleep(0.6)  # one flush of the access log
    finally:
        relay.stop()
    return Run(
        serve=serve_scrape,
        worker=worker_scrape,
        serve_log=server.output,
        worker_log=worker_log.read_text(),
        database=database,
        request_ids=request_ids,
    )


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        return list(db.execute(sql))


def _lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


class TestServeAndWorkerMetrics:
    def test_serve_counts_what_it_accepted_refused_and_answered(self, run: Run) -> None:
        accepted = run.serve.nonzero(
            "inquiry_inquiries_accepted_total", "source", "topic", "priority", "crisis"
        )
        stored = _query(
            run.database,
            "SELECT source, topic, priority, crisis, count(*) FROM inquiry "
            "GROUP BY source, topic, priority, crisis",
        )
        assert accepted == {
            (source, topic, priority, "true" if crisis else "false"): float(n)
            for source, topic, priority, crisis, n in stored
        }
        assert sum(accepted.values()) == 4
        assert run.serve.nonzero("inquiry_refusals_total", "source", "code") == {
            ("api", "invalid_json"): 1,
            ("api", "unsupported_media_type"): 1,
        }
        assert run.serve.nonzero("inquiry_callback_attempts_total", "priority", "outcome") == {
            ("urgent", "no_answer"): 1
        }
        requests = run.serve.nonzero("inquiry_http_requests_total", "method", "route", "status")
        assert requests[("POST", URL, "201")] == 3
        assert requests[("POST", "/api/v1/staff/callbacks/{task_id}/attempts", "200")] == 1
        assert run.serve.value("inquiry_ready") == 1
        assert run.serve.nonzero("inquiry_outbox_deliveries_total", "kind") == {}

    def test_worker_counts_each_delivery_and_the_dead_message(self, run: Run) -> None:
        by_status = Counter(
            (kind, status)
            for kind, status in _query(run.database, "SELECT kind, status FROM outbox_message")
        )
        delivered = run.worker.nonzero("inquiry_outbox_deliveries_total", "kind")
        assert delivered == {
            (kind,): float(n) for (kind, status), n in by_status.items() if status == "sent"
        }
        assert run.worker.nonzero("inquiry_outbox_failures_total", "kind", "outcome") == {
            (kind, "dead"): float(n) for (kind, status), n in by_status.items() if status == "dead"
        }
        assert sum(by_status.values()) - sum(delivered.values()) == 1
        assert run.worker.value("inquiry_outbox_messages", status="dead") == 1
        assert run.worker.value("inquiry_outbox_messages", status="pending") == 0
        assert run.worker.value("inquiry_ready") == 1
        assert run.worker.nonzero("inquiry_inquiries_accepted_total", "topic") == {}

    def test_no_metric_carries_visitor_data(self, run: Run) -> None:
        for text in SUBMITTED:
            assert text.lower() not in run.serve.text.lower(), text
            assert text.lower() not in run.worker.text.lower(), text


class TestJsonLogs:
    def test_no_line_carries_what_a_visitor_submitted(self, run: Run) -> None:
        for name, log in (("serve", run.serve_log), ("worker", run.worker_log)):
            for text in SUBMITTED:
                assert text.lower() not in log.lower(), f"{name}: {text}"

    def test_every_line_is_json_and_every_request_line_has_its_request_id(self, run: Run) -> None:
        serve = _lines(run.serve_log)
        for line in serve + _lines(run.worker_log):
            assert {"time", "level", "logger", "message"} <= line.keys(), line
        requests = [line for line in serve if line["logger"] == "inquiry.access"]
        for line in requests:
            assert line["request_id"], line
            assert {"route", "status", "duration_ms", "method", "path"} <= line.keys(), line
        logged = {line["request_id"] for line in requests}
        assert set(run.request_ids) <= logged
        assert run.request_ids[0] == GIVEN_REQUEST_ID  # the proxy's id is kept
        assert len(set(run.request_ids)) == len(run.request_ids)
        attempt = next(line for line in requests if line["route"].endswith("/attempts"))
        assert attempt["route"] == "/api/v1/staff/callbacks/{task_id}/attempts"
        assert attempt["status"] == 200

    def test_worker_lines_carry_the_outbox_id_and_kind(self, run: Run) -> None:
        worker = _lines(run.worker_log)
        dead = [line for line in worker if "is dead" in line["message"]]
        assert len(dead) == 1
        assert isinstance(dead[0]["outbox_id"], int)
        assert dead[0]["kind"] in {"admin_notification", "urgent_alert", "visitor_acknowledgement"}
        assert dead[0]["level"] == "ERROR"
        # The relay quoted the recipient; the log line does not.
        assert "[address]" in dead[0]["message"]
