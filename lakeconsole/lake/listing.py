"""Which partition values and dates of a dataset exist in a tier (one LIST per level)."""

from __future__ import annotations

from urllib.parse import unquote

from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.tiers import Tier
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage


def values(storage: Storage, dataset: Dataset, tier: Tier) -> list[str]:
    """Partition values present for a dataset in a tier, decoded."""
    prefix = f"{dataset.partition_key}="
    names = storage.list_dir(partitioning.dataset_dir(dataset, tier))
    return [unquote(n.removeprefix(prefix)) for n in names if n.startswith(prefix)]


def dates(storage: Storage, dataset: Dataset, value: str, tier: Tier) -> list[str]:
    """UTC dates present for one partition value, oldest first."""
    names = storage.list_dir(partitioning.value_dir(dataset, value, tier))
    return [n.removeprefix("date=") for n in names if n.startswith("date=")]
