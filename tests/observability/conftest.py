"""Reading a scrape: samples by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.notify.conftest import smtp_sink  # noqa: F401 - the worker's relay

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """One scrape's text and its samples."""

    text: str
    samples: dict[tuple[str, Labels], float]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample with exactly these labels, or None when there is none."""
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        """Every sample of `name`, keyed by the values of these labels."""
        found: dict[tuple[str, ...], float] = {}
        for (sample, labels), value in self.samples.items():
            if sample == name:
                by_name = dict(labels)
                found[tuple(by_name[key] for key in keys)] = value
        return found

    def nonzero(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        return {key: value for key, value in self.series(name, *keys).items() if value}


def parse(text: str) -> Scrape:
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(text, samples)


def scrape(port: int) -> Scrape:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


async def scrape_async(port: int) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)
