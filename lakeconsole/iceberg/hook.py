"""What compaction asks of Iceberg, never failing it: which files to keep, then commit."""

from __future__ import annotations

import logging

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import describe
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout

log = logging.getLogger(__name__)


class IcebergHook:
    """Called by the compactor around a switch when `[iceberg] enabled` is true."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.tables = SilverTables(storage, settings)

    def keep(self, ds: Dataset, value: str, day: str) -> frozenset[str]:
        """Files a tidy must spare; if the table cannot say, every visible part file."""
        try:
            return self.tables.retained(ds, value, day)
        except Exception:
            # Deleting a file a snapshot still names would break time travel for good;
            # keeping one too many costs disk until the next run that can ask.
            log.exception("cannot list the Iceberg files of %s/%s/%s; keeping every part file",
                          ds.name, value, day)
            base = layout.date_dir(ds, value, day)
            return frozenset(f.path for f in self.storage.files(base)
                             if f.path.endswith(".parquet"))

    def publish(self, ds: Dataset, manifest: layout.Manifest, value: str, day: str) -> str:
        """Commit the manifest's files to the table; one line saying how it went."""
        try:
            return self.tables.publish(ds, manifest, value, day).describe()
        except Exception as exc:
            log.exception("Iceberg commit of %s/%s/%s failed; Silver is current",
                          ds.name, value, day)
            return f"failed: {describe(exc)}; `lakeconsole iceberg sync` will commit it"
