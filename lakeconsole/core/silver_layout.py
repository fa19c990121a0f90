"""Which Silver files are current for a (dataset, partition value, date)."""

from __future__ import annotations

from lakeconsole.core import partitioning
from lakeconsole.core.schemas import Dataset
from lakeconsole.core.storage import Storage


def silver_files(
    storage: Storage, dataset: Dataset, value: str, day: str, hours: list[int] | None = None
) -> list[str]:
    """Lake-relative paths of the current Silver files, optionally only some hours."""
    base = partitioning.date_dir(dataset, value, day, tier="silver")
    files = [f.path for f in storage.files(base)]
    if hours is None:
        return files
    wanted = {f"hour={h:02d}" for h in hours}
    return [p for p in files if p.split("/")[-2] in wanted]
