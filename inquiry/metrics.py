"""The service's Prometheus metrics, one registry per process.

Every label value comes from a small fixed set (a topic, a priority, an error code, a route
template, a message kind): never a path as sent, a reference, an address or a name.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from inquiry.models import OutboxKind

# A `_created` series beside every counter doubles what is stored for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]

UNMATCHED = "unmatched"  # the route label of a request no route matched
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Mail goes out in seconds; a backlog or an outage shows in the upper buckets.
_OUTBOX_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
# Calls are made within hours, urgent ones within minutes.
_CALLBACK_BUCKETS = tuple(
    minutes * 60 for minutes in (5, 15, 30, 60, 120, 240, 480, 1440, 2880, 5760)
)


class Metrics:
    """The counters and histograms that the web service and the outbox worker update."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self._accepted = Counter(
            "inquiry_inquiries_accepted",
            "Inquiries stored (replays of an earlier answer are not counted).",
            ["source", "topic", "priority", "crisis"],
            registry=registry,
        )
        self._refusals = Counter(
            "inquiry_refusals",
            "Submissions refused, by the error code of the answer.",
            ["source", "code"],
            registry=registry,
        )
        self._requests = Counter(
            "inquiry_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "inquiry_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["method", "route"],
            registry=registry,
        )
        self._deliveries = Counter(
            "inquiry_outbox_deliveries",
            "Outbox messages delivered, by kind.",
            ["kind"],
            registry=registry,
        )
        self._failures = Counter(
            "inquiry_outbox_failures",
            "Outbox delivery attempts that failed, by kind; outcome is retry or dead.",
            ["kind", "outcome"],
            registry=registry,
        )
        self._outbox_first_attempt = Histogram(
            "inquiry_outbox_first_attempt_seconds",
            "Time from a message being queued (with its inquiry) to its first delivery attempt.",
            ["kind"],
            buckets=_OUTBOX_BUCKETS,
            registry=registry,
        )
        self._callback_attempts = Counter(
            "inquiry_callback_attempts",
            "Calls recorded on callback tasks, by the task's priority and the call's outcome.",
            ["priority", "outcome"],
            registry=registry,
        )
        self._callback_first_attempt = Histogram(
            "inquiry_callback_first_attempt_seconds",
            "Time from an inquiry to the first call made on its callback task.",
            ["priority"],
            buckets=_CALLBACK_BUCKETS,
            registry=registry,
        )
        for kind in OutboxKind:
            # Present from the start at zero, so that rates and alerts see the first one.
            self._deliveries.labels(kind.value)
            for outcome in ("retry", "dead"):
                self._failures.labels(kind.value, outcome)
        # Label lookups cost more than the observation: each series is looked up once.
        self._request_series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}
        self._accepted_series: dict[tuple[str, str, str, bool], Counter] = {}

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request; `route` is its template (or UNMATCHED), never its path."""
        if method not in _METHODS:
            method = "other"  # any word may be sent as a method: keep the label set small
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = (
                self._latency.labels(method, route),
                self._requests.labels(method, route, str(status)),
            )
            self._request_series[key] = series
        series[0].observe(seconds)
        series[1].inc()

    def refused(self, source: str, code: str) -> None:
        self._refusals.labels(source, code).inc()

    def accepted(self, *, source: str, topic: str, priority: str, crisis: bool) -> None:
        key = (source, topic, priority, crisis)
        series = self._accepted_series.get(key)
        if series is None:
            series = self._accepted.labels(source, topic, priority, "true" if crisis else "false")
            self._accepted_series[key] = series
        series.inc()

    def delivered(self, kind: str, *, first_attempt_seconds: float | None) -> None:
        self._deliveries.labels(kind).inc()
        self._first_outbox_attempt(kind, first_attempt_seconds)

    def delivery_failed(
        self, kind: str, *, dead: bool, first_attempt_seconds: float | None
    ) -> None:
        self._failures.labels(kind, "dead" if dead else "retry").inc()
        self._first_outbox_attempt(kind, first_attempt_seconds)

    def _first_outbox_attempt(self, kind: str, seconds: float | None) -> None:
        if seconds is not None:
            self._outbox_first_attempt.labels(kind).observe(max(0.0, seconds))

    def callback_attempted(
        self, *, priority: str, outcome: str, first_attempt_seconds: float | None
    ) -> None:
        self._callback_attempts.labels(priority, outcome).inc()
        if first_attempt_seconds is not None:
            self._callback_first_attempt.labels(priority).observe(max(0.0, first_attempt_seconds))
