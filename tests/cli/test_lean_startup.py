"""Commands load only what they use: no pandas or Textual for --help, compact or --headless.

`pyarrow.dataset` alone pulls in pandas (about a second of imports), which is a third of a
small compaction as a user times it. Each command runs in a fresh interpreter here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakeconsole.lake.storage import Storage
from tests.factories import trades, write

HEAVY = ["pandas", "textual"]

PROBE = """
import json, sys
from lakeconsole.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
loaded = [m for m in json.loads(sys.argv[1]) if m in sys.modules]
print(json.dumps({"code": code, "loaded": loaded}))
"""

HEADLESS = """
import asyncio, json, sys
from lakeconsole.config import load_settings
from lakeconsole.service import Service

async def main():
    settings = load_settings(env={}, overrides={"storage.root": sys.argv[2],
                                                "nats.url": sys.argv[3]})
    service = Service(settings)
    await service.start()
    await service.stop()

asyncio.run(main())
print(json.dumps({"code": 0, "loaded": [m for m in json.loads(sys.argv[1]) if m in sys.modules]}))
"""


def run(script: str, *args: str, cwd: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(HEAVY), *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd, check=False)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("args", [["--help"], ["compact", "--help"]])
def test_help_loads_neither_pandas_nor_textual(tmp_path: Path, args: list[str]) -> None:
    assert run(PROBE, *args, cwd=tmp_path) == {"code": 0, "loaded": []}


def test_compact_loads_neither_pandas_nor_textual(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    args = ["compact", "--date", "2026-01-01", "--data-root", str(root)]
    assert run(PROBE, *args, cwd=tmp_path) == {"code": 0, "loaded": []}  # nothing to do
    write(Storage(str(root)), trades(500))
    # Real work: pyarrow itself imports pandas the first time it converts numpy or Python
    # values to Arrow (its pandas shim), so only Textual is sure to stay out.
    assert run(PROBE, *args, cwd=tmp_path)["loaded"] in ([], ["pandas"])
    assert "textual" not in run(PROBE, *[*args, "--force"], cwd=tmp_path)["loaded"]
    assert any((root / "silver").rglob("*.parquet"))


def test_headless_service_loads_neither_pandas_nor_textual(tmp_path: Path, nats_url: str) -> None:
    result = run(HEADLESS, str(tmp_path / "lake"), nats_url, cwd=tmp_path)
    assert result == {"code": 0, "loaded": []}
