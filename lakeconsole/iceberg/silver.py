"""Silver's datasets as Iceberg tables, as the compactor and `iceberg sync` use them.

Source of truth: the date's `_manifest.json`. The switch to a new generation is atomic
and guarded by the partition's lease; the Iceberg commit follows it and only ever makes
the table name what the manifest names. A crash or a failed commit between the two
leaves the table at its previous snapshot (whose files are kept: see `retained`) and
the next compaction of the date, or `lakeconsole iceberg sync`, commits the difference.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.tiers import Tier
from lakeconsole.errors import LakeError, describe
from lakeconsole.iceberg import commit, tables
from lakeconsole.iceberg.catalog import IcebergError, lake_uri, open_catalog
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout

T = TypeVar("T")


@dataclass(frozen=True)
class Published:
    """One (dataset, value, date) made current in its table: the commit and its cost."""

    commit: commit.Commit
    expired: int
    seconds: float

    def describe(self) -> str:
        """One line for results and logs."""
        if self.commit.snapshot_id is None:
            return "already current"
        return (f"snapshot {self.commit.snapshot_id} (+{self.commit.added} "
                f"-{self.commit.removed} files, {self.seconds:.3f} s)")


class SilverTables:
    """Opens the catalog on first use; safe to share between a compactor's threads."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened once."""
        with self._lock:
            if self._catalog is None:
                ice = self.settings.iceberg
                self._catalog = open_catalog(ice, self.storage, self.settings.storage)
            return self._catalog

    def table(self, ds: Dataset) -> Table:
        """A fresh handle on the dataset's table (handles are not shared between threads)."""
        return self._guard("open", ds.name,
                           lambda: tables.ensure_table(self.catalog, self.storage, ds))

    def prefix(self, ds: Dataset, value: str, day: str) -> str:
        """The URI prefix of a date's data files."""
        return lake_uri(self.storage, layout.date_dir(ds, value, day)) + "/"

    def retained(self, ds: Dataset, value: str, day: str) -> frozenset[str]:
        """Lake-relative paths of the date's files some snapshot references: keep them."""
        prefix = self.prefix(ds, value, day)
        base = layout.date_dir(ds, value, day)
        uris = self._guard("list the snapshots of", ds.name,
                           lambda: commit.referenced_files(self.table(ds), ds.partition_key,
                                                           value, prefix, _tag(ds, value, day)))
        return frozenset(f"{base}/{uri[len(prefix):]}" for uri in uris)

    def named_dates(self, ds: Dataset, tier: Tier) -> set[tuple[str, str]]:
        """(value, date) of every file the table's current snapshot names in `tier`."""
        base = partitioning.dataset_dir(ds, tier)
        prefix = lake_uri(self.storage, base) + "/"
        uris = self._guard("list the files of", ds.name,
                           lambda: commit.named_paths(self.table(ds)))
        # Files outside the dataset's directory are another writer's: not ours to judge.
        parsed = [partitioning.parse(f"{base}/{u[len(prefix):]}")
                  for u in uris if u.startswith(prefix)]
        return {(p.value, p.date) for p in parsed
                if p is not None and p.key == ds.partition_key}

    def publish(self, ds: Dataset, manifest: layout.Manifest | None, value: str, day: str
                ) -> Published:
        """Make the table name exactly the manifest's files for the date, in one commit."""
        base = layout.date_dir(ds, value, day)
        files = [f"{base}/{f.path}" for f in (manifest.files if manifest else ())]
        generation = str(manifest.generation if manifest else 0)
        return self.publish_files(ds, value, day, files, base,
                                  {"lakeconsole.generation": generation})

    def publish_files(self, ds: Dataset, value: str, day: str, paths: list[str], base: str,
                      properties: dict[str, str] | None = None) -> Published:
        """Make the table name exactly `paths` (lake-relative) under the date's `base`."""
        started = time.perf_counter()
        uris = [lake_uri(self.storage, p) for p in paths]
        props = {commit.PARTITION_PROPERTY: _tag(ds, value, day), **(properties or {})}
        prefix = lake_uri(self.storage, base) + "/"

        def run() -> Published:
            table = self.table(ds)
            done = commit.replace(table, ds.partition_key, value, prefix, uris, props)
            expired = self.expire(table) if done.snapshot_id is not None else 0
            return Published(done, expired, round(time.perf_counter() - started, 3))

        return self._guard("commit to", ds.name, run)

    def expire(self, table: Table) -> int:
        """Expire the snapshots `[iceberg] keep_snapshots` and `keep_hours` let go."""
        ice = self.settings.iceberg
        return len(commit.expire(table, ice.keep_snapshots, ice.keep_hours))

    def _guard(self, verb: str, name: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except LakeError:
            raise
        except Exception as exc:
            raise IcebergError(f"cannot {verb} the Iceberg table of {name}: "
                               f"{describe(exc)}") from exc


def _tag(ds: Dataset, value: str, day: str) -> str:
    """What a commit's snapshot summary says it replaced: `stocks.trades/SPY/2024-03-01`."""
    return f"{ds.name}/{value}/{day}"
