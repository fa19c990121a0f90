"""The SQL view names of the lake: `{tier}_{asset}_{dataset}` after the dataset's name.

Pure names and columns (no DuckDB): the console's SQL completion uses them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakeconsole.contract.schemas import DATASETS, Dataset
from lakeconsole.contract.tiers import Tier
from lakeconsole.lake.quarantine import SCHEMA as QUARANTINE_SCHEMA

QUARANTINE_VIEW = "quarantine"


@dataclass(frozen=True)
class View:
    """A SQL view over one dataset in one tier (or over the quarantine tier)."""

    name: str
    tier: Tier
    dataset: Dataset | None

    @property
    def columns(self) -> list[str]:
        """The view's column names, in schema order."""
        return self.dataset.columns if self.dataset is not None else QUARANTINE_SCHEMA.names


def view_name(tier: str, dataset: Dataset) -> str:
    """`silver` + `options.greeks` → `silver_options_greeks`."""
    return f"{tier}_{dataset.name.replace('.', '_')}"


def lake_views() -> dict[str, View]:
    """Every view name the lake can offer, e.g. `bronze_stocks_trades`, `gold_levels_signals`."""
    views: dict[str, View] = {}
    for ds in DATASETS:
        for tier in ds.tiers:
            name = view_name(tier, ds)
            views[name] = View(name, tier, ds)
    views[QUARANTINE_VIEW] = View(QUARANTINE_VIEW, "quarantine", None)
    return views


def view_aliases() -> dict[str, str]:
    """Old view names (after the folder, e.g. `silver_options_greeks_snapshots`) → new ones.

    Kept so saved queries still run; neither completed nor listed.
    """
    aliases: dict[str, str] = {}
    for ds in DATASETS:
        for tier in ds.tiers:
            old = f"{tier}_{ds.path.replace('/', '_')}"
            if old != view_name(tier, ds):
                aliases[old] = view_name(tier, ds)
    return aliases


def view_columns() -> dict[str, list[str]]:
    """Each view's column names, for completion."""
    return {name: view.columns for name, view in lake_views().items()}
