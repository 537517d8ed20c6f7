"""Fixtures for the reader tests: the real JSONL light curves, as plain Python records."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def q17_records(shared_data) -> list[dict]:
    """The 12 Kepler Q17 light curves (name, label, time, flux with NaN gaps)."""
    path = shared_data / "lightcurves" / "kepler_q17_lc_sample.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
