"""Reading the ops endpoints over real HTTP, and the samples of a scrape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def get(url: str) -> tuple[int, str]:
    """GET `url`: (status, body), for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(base: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of /readyz."""
    status, body = get(f"{base}/readyz")
    parsed: dict[str, Any] = json.loads(body)
    return status, parsed


def samples(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus_client: (name, labels) → value."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float | None:
    """One sample's value, None when absent."""
    return found.get((name, frozenset(labels.items())))
