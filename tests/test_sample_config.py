"""sample_config.toml documents every key of config.py, with the defaults as values."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import get_type_hints

from lakeconsole.config import Settings, load_settings

SAMPLE = Path(__file__).resolve().parents[1] / "sample_config.toml"
SECTIONS = [f for f in dataclasses.fields(Settings) if f.name != "source"]
HINTS = get_type_hints(Settings)


def test_sample_parses_to_exactly_the_defaults() -> None:
    loaded = load_settings(SAMPLE, env={})
    assert loaded.source == str(SAMPLE)
    assert dataclasses.replace(loaded, source="defaults") == Settings()


def test_every_field_appears_and_nothing_else() -> None:
    raw = tomllib.loads(SAMPLE.read_text())
    assert set(raw) == {f.name for f in SECTIONS}
    for section in SECTIONS:
        expected = {f.name for f in dataclasses.fields(HINTS[section.name])}
        assert set(raw[section.name]) == expected, section.name


def test_every_key_has_a_comment() -> None:
    lines = SAMPLE.read_text().splitlines()
    keyed = [(i, m.group(1)) for i, line in enumerate(lines)
             if (m := re.match(r"^([a-z0-9_]+)\s*=", line))]
    assert len(keyed) >= 25
    for i, key in keyed:
        previous = lines[i - 1].strip()
        assert previous.startswith("#") or "#" in lines[i], f"{key} has no comment"
    assert "[console.keys]" in lines
