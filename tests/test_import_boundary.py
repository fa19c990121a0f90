"""Layering: only lakeconsole.tui imports textual; the domain core imports neither textual nor nats.

Modules are discovered with pkgutil.walk_packages, so new modules are covered automatically,
and imported in a fresh interpreter, so nothing this test process has loaded can hide a leak.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import lakeconsole

REPO = Path(__file__).resolve().parents[1]
# The domain core: the data contract, the lake's files, Silver, queries, and what they share.
CORE_PREFIXES = (
    "lakeconsole.contract", "lakeconsole.lake", "lakeconsole.silver", "lakeconsole.query",
    "lakeconsole.ledger", "lakeconsole.iceberg",
    "lakeconsole.events", "lakeconsole.config", "lakeconsole.errors",
)

# Imports each module in turn and reports the first one after which a forbidden package
# appears in sys.modules.
PROBE = """
import importlib, json, sys
modules, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in modules:
    importlib.import_module(name)
    leaked = sorted(f for f in forbidden if f in sys.modules)
    if leaked:
        print(json.dumps({"module": name, "leaked": leaked}))
        sys.exit(1)
print(json.dumps({"imported": len(modules)}))
"""


def _raise(name: str) -> None:
    raise ImportError(f"walk_packages could not import {name}")


def non_tui_modules() -> list[str]:
    """Every lakeconsole module outside lakeconsole.tui (and not `__main__`, which runs the CLI)."""
    names = ["lakeconsole"]
    for info in pkgutil.walk_packages(lakeconsole.__path__, "lakeconsole.", onerror=_raise):
        if info.name == "lakeconsole.tui" or info.name.startswith("lakeconsole.tui."):
            continue
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        names.append(info.name)
    return sorted(names)


def core_modules() -> list[str]:
    """The domain core: contract, lake, silver, query, events, config, errors."""
    return [m for m in non_tui_modules() if m.startswith(CORE_PREFIXES)]


def probe(modules: list[str], forbidden: list[str]) -> dict[str, object]:
    """Import `modules` in a fresh interpreter; fail naming the module that pulled `forbidden`."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules), json.dumps(forbidden)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_discovery_finds_the_known_modules() -> None:
    found = non_tui_modules()
    for expected in ("lakeconsole.cli", "lakeconsole.config", "lakeconsole.query.readers",
                     "lakeconsole.lake.storage", "lakeconsole.commands.read"):
        assert expected in found
    assert not any(m.startswith("lakeconsole.tui") for m in found)
    core = core_modules()
    assert "lakeconsole.contract.schemas" in core and "lakeconsole.errors" in core
    assert not any(m.startswith(("lakeconsole.ingest", "lakeconsole.cli")) for m in core)


def test_non_tui_modules_do_not_import_textual() -> None:
    modules = non_tui_modules()
    assert probe(modules, ["textual"]) == {"imported": len(modules)}


def test_core_imports_neither_textual_nor_nats() -> None:
    modules = core_modules()
    assert probe(modules, ["textual", "nats"]) == {"imported": len(modules)}


def test_probe_detects_a_leak() -> None:
    """The probe itself can fail: importing the NATS bus does load `nats`."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(["lakeconsole.ingest.bus"]), '["nats"]'],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"module": "lakeconsole.ingest.bus", "leaked": ["nats"]}


TUI_FORBIDDEN = ("nats", "lakeconsole.ingest", "lakeconsole.lake.storage", "duckdb", "fsspec",
                 "s3fs", "lakeconsole.silver.compactor", "lakeconsole.query.sql")


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, as written in its import statements."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_tui_reaches_nats_and_storage_only_through_the_service() -> None:
    """The console imports no NATS, storage, DuckDB or compactor code; it calls the Service."""
    offenders = {
        str(path.relative_to(REPO)): sorted(
            n for n in imported_names(path) if n.startswith(TUI_FORBIDDEN)
        )
        for path in sorted((REPO / "lakeconsole" / "tui").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert "lakeconsole.service" in imported_names(REPO / "lakeconsole" / "tui" / "app.py")


def _package_files() -> list[Path]:
    return sorted((REPO / "lakeconsole").rglob("*.py"))


def _owner(path: Path) -> str:
    """The subpackage a file belongs to (`ingest`, `tui`, …) or `lakeconsole` at top level."""
    parts = path.relative_to(REPO / "lakeconsole").parts
    return parts[0] if len(parts) > 1 else "lakeconsole"


def test_only_ingest_imports_nats_and_only_tui_imports_textual() -> None:
    """Direct imports, lazy ones inside functions included: each third party has one home."""
    homes = {"nats": "ingest", "textual": "tui", "textual_fastdatatable": "tui"}
    offenders = sorted(
        f"{path.relative_to(REPO)} imports {name}"
        for path in _package_files()
        for name in imported_names(path)
        for top, home in homes.items()
        if name.split(".")[0] == top and _owner(path) != home
    )
    assert offenders == []
