"""Readers that return pandas DataFrames from any tier, pruning partitions and row groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.contract.tiers import DATA_TIERS, Tier, is_tier
from lakeconsole.errors import SchemaError
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.parquet import read_error, verified_format
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.layout import silver_files


@dataclass
class ScanStats:
    """What the last read touched: useful to check pruning and to show in the console."""

    files: list[str] = field(default_factory=list)
    rows: int = 0


class LakeReader:
    """Reads any tier; the tier-specific readers below are thin, named shortcuts."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.last_scan = ScanStats()

    def read(
        self,
        tier: str,
        dataset: str | Dataset,
        partition_value: str,
        date: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of one partition value and UTC date, optionally in [start_ns, end_ns]."""
        return self.read_arrow(
            tier, dataset, partition_value, date, start_ns, end_ns, columns
        ).to_pandas()

    def read_arrow(
        self,
        tier: str,
        dataset: str | Dataset,
        partition_value: str,
        date: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Like `read`, as an Arrow table."""
        ds = by_name(dataset) if isinstance(dataset, str) else dataset
        stored = _check_tier(tier, ds)
        _check_columns(ds, columns)
        schema = ds.schema if columns is None else pa.schema([ds.schema.field(c) for c in columns])
        for attempt in (1, 2):
            paths = self.plan(stored, ds, partition_value, date, start_ns, end_ns)
            self.last_scan = ScanStats(files=paths)
            if not paths:
                return schema.empty_table().replace_schema_metadata(None)
            try:
                table = self._scan(ds, paths, start_ns, end_ns, columns)
                break
            except FileNotFoundError:
                # A Silver re-compaction switched sets and removed the old files between
                # our listing and our reads: list the new set and read it instead.
                if tier != "silver" or attempt == 2:
                    raise
                # s3fs answers "missing" from a cached listing of the hour directory made
                # before another process switched: forget those listings too.
                for directory in {p.rsplit("/", 1)[0] for p in paths}:
                    self.storage.invalidate(directory)
        self.last_scan.rows = table.num_rows
        return table.replace_schema_metadata(None)

    def _scan(
        self,
        ds: Dataset,
        paths: list[str],
        start_ns: int | None,
        end_ns: int | None,
        columns: list[str] | None,
    ) -> pa.Table:
        full = [self.storage.full(p) for p in paths]
        scan = pads.dataset(full, schema=ds.schema, format=verified_format(),
                            filesystem=self.storage.fs)
        # Each file is sorted; several files of one hour are not, so sort the result.
        wanted = None if columns is None else list(dict.fromkeys([*columns, *ds.sort_columns]))
        try:
            table = scan.to_table(columns=wanted, filter=_time_filter(start_ns, end_ns))
        except FileNotFoundError:
            raise  # read_arrow retries a Silver set switched meanwhile
        except (OSError, pa.ArrowException) as exc:  # a failed page CRC is an OSError
            raise read_error(self.storage, paths, exc) from exc
        table = table.take(pc.sort_indices(table, sort_keys=_sort_keys(ds)))
        return table if columns is None else table.select(columns)

    def plan(
        self,
        tier: Tier,
        ds: Dataset,
        value: str,
        date: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[str]:
        """The files a read would open: only the hours that can hold the range."""
        hours = partitioning.hours_in_range(date, start_ns, end_ns)
        if not hours:
            return []
        if tier == "silver":
            return silver_files(self.storage, ds, value, date, hours)
        # One listing of the date (one LIST on S3), then keep the wanted hour directories.
        wanted = {f"hour={h:02d}" for h in hours}
        files = self.storage.files(partitioning.date_dir(ds, value, date, tier))
        return [f.path for f in files if f.path.rsplit("/", 2)[-2] in wanted]

    def get_available_dates(
        self, schema_path: str, partition_filter: str | None = None, tier: str | None = None
    ) -> list[str]:
        """Dates with data for a dataset (`stocks/trades`), optionally one value (`SPY`)."""
        ds = by_name(schema_path)
        stored = _check_tier(tier or ds.tier, ds)
        values = ([partition_filter.split("=", 1)[-1]] if partition_filter
                  else listing.values(self.storage, ds, stored))
        return sorted({d for v in values for d in listing.dates(self.storage, ds, v, stored)})


def _check_tier(tier: str, ds: Dataset) -> Tier:
    """The tier named by the user, if it holds the dataset."""
    if not is_tier(tier) or tier == "quarantine":
        raise SchemaError(f"unknown tier {tier!r}; expected one of {', '.join(DATA_TIERS)}")
    if tier not in ds.tiers:
        raise SchemaError(f"dataset {ds.name} is not stored in the {tier} tier")
    return tier


def _check_columns(ds: Dataset, columns: list[str] | None) -> None:
    unknown = [c for c in columns or [] if c not in ds.schema.names]
    if unknown:
        raise SchemaError(
            f"unknown column(s) {', '.join(unknown)} in {ds.name}; "
            f"known: {', '.join(ds.schema.names)}"
        )


def _sort_keys(ds: Dataset) -> list[tuple[str, Literal["ascending", "descending"]]]:
    return [(c, "ascending") for c in ds.sort_columns]


def _time_filter(start_ns: int | None, end_ns: int | None) -> pads.Expression | None:
    ts = pads.field("ts_event_ns")
    expr = None
    if start_ns is not None:
        expr = ts >= start_ns
    if end_ns is not None:
        upper = ts <= end_ns
        expr = upper if expr is None else expr & upper
    return expr


class BronzeReader(LakeReader):
    """Raw Bronze rows, as written by the ingest writers."""

    def read_stock_trades(
        self, symbol: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """Stock trades of one symbol and UTC date."""
        return self.read("bronze", "stocks.trades", symbol, date, start_ns, end_ns)

    def read_stock_quotes(
        self, symbol: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """Stock quotes of one symbol and UTC date."""
        return self.read("bronze", "stocks.quotes", symbol, date, start_ns, end_ns)

    def read_futures_mbp10(
        self, symbol: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """MBP-10 book snapshots/updates of one futures symbol and UTC date."""
        return self.read("bronze", "futures.mbp10", symbol, date, start_ns, end_ns)


class SilverReader(LakeReader):
    """Deduplicated, sorted Silver rows."""

    def read_stock_trades(
        self, symbol: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """Silver stock trades of one symbol and UTC date."""
        return self.read("silver", "stocks.trades", symbol, date, start_ns, end_ns)

    def read_futures_trades(
        self, symbol: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """Silver futures trades of one symbol and UTC date."""
        return self.read("silver", "futures.trades", symbol, date, start_ns, end_ns)

    def read_option_trades(
        self, underlying: str, date: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> pd.DataFrame:
        """Silver option trades of one underlying and UTC date."""
        return self.read("silver", "options.trades", underlying, date, start_ns, end_ns)

    def get_available_dates(
        self, schema_path: str, partition_filter: str | None = None, tier: str | None = None
    ) -> list[str]:
        """Dates with Silver data."""
        return super().get_available_dates(schema_path, partition_filter, tier or "silver")


class GoldReader(LakeReader):
    """Flattened level signals."""

    def read_level_signals(
        self,
        underlying: str,
        date: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> pd.DataFrame:
        """Level-signal rows of one underlying and UTC date."""
        return self.read("gold", "levels.signals", underlying, date, start_ns, end_ns)
