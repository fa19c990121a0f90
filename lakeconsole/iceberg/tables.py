"""One Iceberg table per Silver dataset and for Gold: the contract's schema, its sort order.

Partitioned by identity on the partition key only. A Silver file carries its key value in
a column (the registered file's own statistics give it: min == max), but not its date:
the files' `ts_event_ns` min/max statistics prune a time range instead, which costs
nothing (`ts_event_ns` is int64 nanoseconds, so Iceberg's day/hour transforms, which need
a timestamp type, do not apply without changing the contract's column type).
"""

from __future__ import annotations

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError
from pyiceberg.table import Table, TableProperties
from pyiceberg.transforms import IdentityTransform

from lakeconsole.contract.schemas import Dataset
from lakeconsole.iceberg.catalog import ICEBERG_DIR, lake_uri
from lakeconsole.lake.storage import Storage


def namespace(ds: Dataset) -> str:
    """`silver` for the datasets Bronze feeds (their Silver is the table), `gold` for Gold."""
    return "gold" if ds.tier == "gold" else "silver"


def identifier(ds: Dataset) -> str:
    """`silver.stocks_trades`, `gold.levels_signals`: the table of a dataset."""
    return f"{namespace(ds)}.{ds.name.replace('.', '_')}"


def location(storage: Storage, ds: Dataset) -> str:
    """Where the table's metadata goes; its data files stay where the layout puts them."""
    return lake_uri(storage, f"{ICEBERG_DIR}/{namespace(ds)}/{ds.name.replace('.', '_')}")


def _ensure_namespace(catalog: Catalog, name: str) -> None:
    """Create the namespace unless it exists; a compactor's threads may race to it."""
    try:
        catalog.create_namespace(name)
    except Exception:  # the SQL catalog raises sqlalchemy's IntegrityError for the loser
        if not catalog.namespace_exists(name):
            raise


def ensure_table(catalog: Catalog, storage: Storage, ds: Dataset) -> Table:
    """The dataset's table, created on first use (idempotent under races)."""
    name = identifier(ds)
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        pass
    _ensure_namespace(catalog, namespace(ds))
    try:
        txn = catalog.create_table_transaction(name, ds.schema, location=location(storage, ds))
    except TableAlreadyExistsError:  # a REST catalog refuses it once another worker made it
        return catalog.load_table(name)
    with txn.update_spec() as spec:
        spec.add_identity(ds.partition_key)
    with txn.update_sort_order() as order:
        for column in ds.sort_columns:
            order.asc(column, IdentityTransform())
    # Silver files carry no Iceberg field ids: readers map columns by name.
    mapping = txn.table_metadata.schema().name_mapping.model_dump_json()
    # Snapshot isolation for overwrites: a commit replaces one date's files, which the
    # partition's lease already protects; files other partitions added meanwhile are
    # no conflict (serializable would refuse every concurrent commit of the table).
    txn.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping,
                        TableProperties.WRITE_UPDATE_ISOLATION_LEVEL: "snapshot"})
    try:
        txn.commit_transaction()
    except Exception:
        try:  # another worker created it meanwhile: theirs is the same table
            return catalog.load_table(name)
        except NoSuchTableError:
            raise
    return catalog.load_table(name)
