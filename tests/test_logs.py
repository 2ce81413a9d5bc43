"""Log lines: request ids, JSON lines with their fields, and no email address in any line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from inquiry.config import LogFormat
from inquiry.logs import AccessLog, log_handler

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes as JSON lines during the test."""
    stream = io.StringIO()
    handler = log_handler(stream, LogFormat.JSON)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestRequestIds:
    async def test_each_answer_carries_a_new_id_when_none_was_sent(
        self, client: httpx.AsyncClient
    ) -> None:
        first = (await client.get("/healthz")).headers["X-Request-ID"]
        second = (await client.get("/healthz")).headers["X-Request-ID"]
        assert HEX_ID.fullmatch(first)
        assert HEX_ID.fullmatch(second)
        assert first != second

    @pytest.mark.parametrize(
        "given", ["0f8fa3e2-5c1b-4f8e-9d7a-2b6c1e4d9a10", "edge-7f3c9a12-0001", "a" * 32]
    )
    async def test_an_id_from_the_proxy_is_kept(
        self, client: httpx.AsyncClient, given: str
    ) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": given})
        assert response.headers["X-Request-ID"] == given

    @pytest.mark.parametrize(
        "given",
        ["marie@example.ca", "short", "x" * 129, "<script>alert(1)</script>", "a b c d e f"],
    )
    async def test_anything_else_is_replaced(self, client: httpx.AsyncClient, given: str) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": given})
        assert HEX_ID.fullmatch(response.headers["X-Request-ID"])

    async def test_errors_carry_the_id_too(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/inquiries", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        assert HEX_ID.fullmatch(response.headers["X-Request-ID"])

    async def test_lines_logged_while_answering_carry_the_id(
        self, client: httpx.AsyncClient, json_log: io.StringIO
    ) -> None:
        # A label that is not one line is dropped with a warning, logged inside the request.
        form = {
            "name": "Ann",
            "email": "ann@example.ca",
            "message": "Hello there.",
            "consent": "on",
            "_subject": "two\nlines",
        }
        response = await client.post("/forms/contact", data=form)
        assert response.status_code == 303
        [warning] = [line for line in lines(json_log) if "_subject ignored" in str(line["message"])]
        assert warning["request_id"] == response.headers["X-Request-ID"]
        assert warning["logger"] == "inquiry.web.forms"
        assert warning["level"] == "WARNING"


class TestJsonLines:
    def test_a_record_has_time_level_logger_message_and_only_known_fields(
        self, json_log: io.StringIO
    ) -> None:
        logging.getLogger("inquiry.notify.worker").error(
            "outbox %d (%s) is dead: %s",
            7,
            "visitor_acknowledgement",
            "refused",
            extra={"outbox_id": 7, "kind": "visitor_acknowledgement", "recipient": "x"},
        )
        [line] = lines(json_log)
        assert line["level"] == "ERROR"
        assert line["logger"] == "inquiry.notify.worker"
        assert line["message"] == "outbox 7 (visitor_acknowledgement) is dead: refused"
        assert line["outbox_id"] == 7
        assert line["kind"] == "visitor_acknowledgement"
        assert "recipient" not in line
        assert "request_id" not in line  # logged outside any request
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(line["time"]))

    def test_an_exception_is_one_line_with_its_traceback(self, json_log: io.StringIO) -> None:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("inquiry").exception("it failed")
        [line] = lines(json_log)
        assert "RuntimeError: boom" in str(line["exception"])

    @pytest.mark.parametrize("log_format", list(LogFormat))
    def test_email_addresses_are_blanked_in_every_format(self, log_format: LogFormat) -> None:
        stream = io.StringIO()
        logger = logging.getLogger("tests.addresses")
        logger.propagate = False
        handler = log_handler(stream, log_format)
        logger.addHandler(handler)
        try:
            logger.warning("SMTP 550: <%s>: mailbox unavailable", "marie.tremblay@example.ca")
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
        written = stream.getvalue()
        assert "marie.tremblay@example.ca" not in written
        assert "example.ca" not in written
        assert "SMTP 550: <[address]>: mailbox unavailable" in written


class TestAccessLog:
    @pytest.mark.parametrize("log_format", list(LogFormat))
    def test_a_request_is_one_line_with_its_route_status_time_and_id(
        self, log_format: LogFormat
    ) -> None:
        stream = io.StringIO()
        access = AccessLog()
        access.start(stream, log_format)
        access.record(
            "GET",
            "/api/v1/staff/callbacks/12",
            200,
            3.25,
            "/api/v1/staff/callbacks/{task_id}",
            "r1",
        )
        access.stop()
        written = stream.getvalue()
        if log_format is LogFormat.TEXT:
            assert written.endswith(
                " INFO inquiry.access GET /api/v1/staff/callbacks/12 200 3.2ms\n"
            )
            return
        [line] = [json.loads(each) for each in written.splitlines()]
        assert line["logger"] == "inquiry.access"
        assert line["message"] == "GET /api/v1/staff/callbacks/12 200"
        assert line["route"] == "/api/v1/staff/callbacks/{task_id}"
        assert line["status"] == 200
        assert line["duration_ms"] == 3.25
        assert line["request_id"] == "r1"
