"""Open the Iceberg catalog that `[iceberg]` names: embedded SQLite (default) or REST."""

from __future__ import annotations

import os
from typing import Any

import requests
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    AuthorizationExpiredError,
    ForbiddenError,
    OAuthError,
    UnauthorizedError,
)

from lakeconsole.config import IcebergSettings, StorageSettings
from lakeconsole.errors import LakeError, describe
from lakeconsole.lake.storage import Storage

CATALOG_NAME = "lakeconsole"
# Hidden (leading `_`): readers and listings of the lake skip it; holds the SQLite catalog
# of a local lake and every table's metadata, so no Iceberg file lands under silver/.
ICEBERG_DIR = "_iceberg"


class IcebergError(LakeError):
    """The Iceberg catalog or a table commit failed."""


def lake_uri(storage: Storage, relpath: str = "") -> str:
    """The URI Iceberg stores for a lake-relative path: absolute local path or s3://."""
    full = storage.full(relpath)
    if storage.is_local:
        return os.path.abspath(full)
    return f"{storage.backend}://{full}" if "://" not in full else full


def catalog_path(ice: IcebergSettings, storage: Storage) -> str:
    """Where the embedded SQLite catalog lives (config, else inside a local lake)."""
    if ice.catalog_path:
        return os.path.abspath(ice.catalog_path)
    if not storage.is_local:
        raise IcebergError("[iceberg] catalog_path is required for the sql catalog of an S3 lake")
    return os.path.join(lake_uri(storage, ICEBERG_DIR), "catalog.db")


def io_properties(settings: StorageSettings) -> dict[str, str]:
    """The FileIO options that reach the lake's S3 endpoint with the lake's credentials."""
    if not settings.is_s3:
        return {}
    props = {"s3.region": settings.s3_region}
    if settings.s3_endpoint:
        props["s3.endpoint"] = settings.s3_endpoint
    if settings.s3_access_key:
        props["s3.access-key-id"] = settings.s3_access_key
        props["s3.secret-access-key"] = settings.s3_secret_key
    return props


def open_catalog(ice: IcebergSettings, storage: Storage, storage_settings: StorageSettings
                 ) -> Catalog:
    """The catalog `ice` configures; IcebergError (one line) if it cannot be opened."""
    props: dict[str, Any] = io_properties(storage_settings)
    try:
        if ice.catalog == "rest":
            props["uri"] = ice.uri
            for key in ("warehouse", "credential", "token"):
                if getattr(ice, key):
                    props[key] = getattr(ice, key)
            return RestCatalog(CATALOG_NAME, **props)
        uri = ice.uri
        if not uri:
            path = catalog_path(ice, storage)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            uri = f"sqlite:///{path}"
        props.update(uri=uri, warehouse=lake_uri(storage, ICEBERG_DIR))
        return SqlCatalog(CATALOG_NAME, **props)
    except LakeError:
        raise
    except Exception as exc:
        if ice.catalog == "rest":
            raise IcebergError(f"cannot open the Iceberg REST catalog at {ice.uri}: "
                               f"{_rest_cause(exc)}") from exc
        raise IcebergError(f"cannot open the Iceberg catalog: {describe(exc)}") from exc


# What RestCatalog raises for a refused token or client secret: HTTP 401, 403 and 419,
# and the OAuth token endpoint's refusals.
_AUTH_ERRORS = (UnauthorizedError, ForbiddenError, OAuthError, AuthorizationExpiredError)


def _rest_cause(exc: Exception) -> str:
    """Why a REST catalog did not open, in one line that says what to check."""
    if isinstance(exc, requests.ConnectionError):
        # Its text is urllib3's retry chain with object reprs; the class says enough.
        return f"unreachable ({type(exc).__name__})"
    if isinstance(exc, _AUTH_ERRORS):
        return f"{describe(exc)} (check [iceberg] token or credential)"
    return describe(exc)
