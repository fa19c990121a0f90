"""A test-only Iceberg REST catalog on loopback; a pyiceberg SqlCatalog (SQLite) stores it.

Serves the part of the Iceberg REST spec (apache/iceberg open-api/rest-catalog-open-api.yaml)
that pyiceberg's RestCatalog uses for lakeconsole's flows:

- ``GET /v1/config`` (with ``?warehouse=``) and ``POST /v1/oauth/tokens`` (client credentials)
- namespaces: list, create, load, exists (``HEAD``)
- tables: list, create (also ``stage-create``), load, exists (``HEAD``), commit

Every route but the token one wants ``Authorization: Bearer <token>`` when the server has
a token (401 otherwise). A server made with a warehouse answers ``/v1/config`` only for
that warehouse and, like Polaris or Lakekeeper, hands it back as the URL ``prefix``.

Commits go through the SqlCatalog's ``commit_table``, which checks the requirements and
swaps the metadata pointer with a compare-and-set: a stale or concurrent commit is a 409
``CommitFailedException`` as on a real server. Errors use the spec's ``ErrorResponse``
(``{"error": {"message", "type", "code"}}``); OAuth errors use RFC 6749's shape.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError
from pyiceberg.catalog.rest import Capability, CreateTableRequest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import CommitTableRequest, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import AssertCreate
from pyiceberg.typedef import Identifier
from sqlalchemy.exc import IntegrityError

# pyiceberg's default separator of a multi-level namespace in a URL path segment.
NAMESPACE_SEPARATOR = "\x1f"

# What /v1/config advertises: pyiceberg refuses to call an endpoint not listed here, so
# a flow that needs one we do not serve fails loudly instead of hitting a 404.
ENDPOINTS = [str(c) for c in (
    Capability.V1_LIST_NAMESPACES, Capability.V1_CREATE_NAMESPACE, Capability.V1_LOAD_NAMESPACE,
    Capability.V1_NAMESPACE_EXISTS, Capability.V1_LIST_TABLES, Capability.V1_CREATE_TABLE,
    Capability.V1_LOAD_TABLE, Capability.V1_TABLE_EXISTS, Capability.V1_UPDATE_TABLE,
)]

# Our exceptions -> (HTTP status, the spec's error type), for ErrorResponse bodies.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    NoSuchNamespaceError: (404, "NoSuchNamespaceException"),
    NoSuchTableError: (404, "NoSuchTableException"),
    NamespaceAlreadyExistsError: (409, "AlreadyExistsException"),
    TableAlreadyExistsError: (409, "AlreadyExistsException"),
    CommitFailedException: (409, "CommitFailedException"),
    ValidationError: (400, "BadRequestException"),
}


class HttpError(Exception):
    """A response other than 2xx that no catalog exception stands for."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class Logged:
    """One request the server answered."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class _Named:
    """Stands in for the Table that SqlCatalog.commit_table only asks the name of."""

    identifier: Identifier

    def name(self) -> Identifier:
        return self.identifier


class RestCatalogServer:
    """The REST catalog, served from a daemon thread on 127.0.0.1; `uri` once started."""

    def __init__(self, db_path: Path, *, token: str = "", client_id: str = "",
                 client_secret: str = "", warehouse: str = "") -> None:
        self.token = token
        self.client = (client_id, client_secret)
        self.warehouse = warehouse
        # Where a table goes when the client names no location (lakeconsole always does).
        default_location = db_path.parent / "rest-warehouse"
        self.catalog = SqlCatalog("rest", uri=f"sqlite:///{db_path}",
                                  warehouse=default_location.as_uri())
        self.requests: list[Logged] = []
        self.errors: list[str] = []  # 5xx tracebacks: a test can assert there were none
        # Called with (method, path) before a request is answered: a test makes another
        # client act here to force an interleaving (say, win a race to create a table).
        self.before: Callable[[str, str], None] | None = None
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.app = self  # type: ignore[attr-defined]
        # A short poll: stop() waits up to one poll for serve_forever to notice.
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,),
                                        daemon=True, name="iceberg-rest")

    @property
    def uri(self) -> str:
        """`http://127.0.0.1:PORT`, what `[iceberg] uri` takes."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> RestCatalogServer:
        """Serve in the background; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the port and the SQLite engine."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
        self.catalog.engine.dispose()

    def __enter__(self) -> RestCatalogServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def calls(self, method: str, path: str) -> list[int]:
        """The statuses of the requests made to `method path` (path without the query)."""
        with self._lock:
            return [r.status for r in self.requests if (r.method, r.path) == (method, path)]

    # -- dispatch ---------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, Any] | None]:
        """Answer one request: (status, JSON body or None)."""
        url = urlsplit(target)
        try:
            if self.before is not None:
                self.before(method, url.path)
            status, payload = self._route(method, url.path, parse_qs(url.query), headers, body)
        except HttpError as exc:
            status, payload = exc.status, _error(exc.status, exc.kind, str(exc))
        except tuple(ERRORS) as exc:
            status, kind = next(v for k, v in ERRORS.items() if isinstance(exc, k))
            payload = _error(status, kind, str(exc).splitlines()[0] if str(exc) else kind)
        except Exception as exc:  # a bug here or in pyiceberg: 500, and keep the traceback
            with self._lock:
                self.errors.append(traceback.format_exc())
            status, payload = 500, _error(500, "ServerError", f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.requests.append(Logged(method, url.path, status))
        return status, payload

    def _route(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None]:
        # Split before unquoting: a name may hold an encoded "/" (%2F).
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v1"]:
            raise HttpError(404, "NotFoundException", f"no route {path}")
        route = parts[1:]
        if method == "POST" and route == ["oauth", "tokens"]:
            return 200, self._issue_token(body)
        self._check_token(headers.get("authorization", ""))
        if route == ["config"]:
            return 200, self._config(query)
        if self.warehouse:  # every other route is under the prefix /v1/config handed out
            if route[:1] != [self.warehouse]:
                raise HttpError(404, "NotFoundException", f"no route {path} (prefix?)")
            route = route[1:]
        match method, route:
            case "GET", ["namespaces"]:
                parent = _namespace(query["parent"][0]) if "parent" in query else ()
                return 200, {"namespaces": [list(n) for n in self.catalog.list_namespaces(parent)]}
            case "POST", ["namespaces"]:
                return 200, self._create_namespace(body)
            case "GET", ["namespaces", ns]:
                properties = self.catalog.load_namespace_properties(_namespace(ns))
                return 200, {"namespace": list(_namespace(ns)), "properties": properties}
            case "HEAD", ["namespaces", ns]:
                return (204 if self.catalog.namespace_exists(_namespace(ns)) else 404), None
            case "GET", ["namespaces", ns, "tables"]:
                found = self.catalog.list_tables(_namespace(ns))
                return 200, {"identifiers": [{"namespace": list(t[:-1]), "name": t[-1]}
                                             for t in found]}
            case "POST", ["namespaces", ns, "tables"]:
                return 200, self._create_table(_namespace(ns), body)
            case "GET", ["namespaces", ns, "tables", name]:
                return 200, _table_json(self.catalog.load_table((*_namespace(ns), name)))
            case "HEAD", ["namespaces", ns, "tables", name]:
                return (204 if self.catalog.table_exists((*_namespace(ns), name)) else 404), None
            case "POST", ["namespaces", ns, "tables", name]:
                return 200, self._commit((*_namespace(ns), name), body)
        raise HttpError(404, "NotFoundException", f"no route {method} {path}")

    # -- the endpoints ----------------------------------------------------------------

    def _issue_token(self, body: bytes) -> dict[str, Any]:
        """OAuth2 client credentials: the server's token for the right id and secret."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (form.get("client_id", ""), form.get("client_secret", "")) != self.client:
            # RFC 6749 §5.2's shape, which pyiceberg parses into an OAuthError.
            raise _OAuthRefused()
        return {"access_token": self.token, "token_type": "bearer", "expires_in": 3600,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}

    def _check_token(self, authorization: str) -> None:
        if self.token and authorization != f"Bearer {self.token}":
            raise HttpError(401, "NotAuthorizedException", "missing or wrong bearer token")

    def _config(self, query: dict[str, list[str]]) -> dict[str, Any]:
        asked = query.get("warehouse", [""])[0]
        if self.warehouse and asked != self.warehouse:
            raise HttpError(400, "BadRequestException",
                            f"unknown warehouse {asked!r}: this catalog serves "
                            f"{self.warehouse!r}")
        overrides = {"prefix": self.warehouse} if self.warehouse else {}
        return {"defaults": {}, "overrides": overrides, "endpoints": ENDPOINTS}

    def _create_namespace(self, body: bytes) -> dict[str, Any]:
        request = json.loads(body)
        namespace = tuple(request["namespace"])
        try:
            self.catalog.create_namespace(namespace, request.get("properties") or {})
        except IntegrityError as exc:
            # Two racing creates both passed SqlCatalog's existence check; the loser hits
            # the unique key. A real server says 409 for it, as for a plain duplicate.
            raise NamespaceAlreadyExistsError(f"namespace {'.'.join(namespace)} exists") from exc
        return {"namespace": list(namespace),
                "properties": self.catalog.load_namespace_properties(namespace)}

    def _create_table(self, namespace: Identifier, body: bytes) -> dict[str, Any]:
        request = CreateTableRequest.model_validate_json(body)
        identifier = (*namespace, request.name)
        if not self.catalog.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"namespace {'.'.join(namespace)} does not exist")
        # Like the reference server (CatalogHandlers.stageTableCreate): a staged create of
        # an existing table is refused at once, not only when its AssertCreate commits.
        if self.catalog.table_exists(identifier):
            raise TableAlreadyExistsError(f"table {'.'.join(identifier)} already exists")
        args: dict[str, Any] = {
            "schema": request.table_schema, "location": request.location,
            "partition_spec": request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
            "sort_order": request.write_order or UNSORTED_SORT_ORDER,
            "properties": request.properties,
        }
        if request.stage_create:
            # Metadata only; nothing is stored until the client commits it with AssertCreate.
            staged = self.catalog._create_staged_table(identifier, **args)
            return {"metadata": _metadata_json(staged.metadata), "config": {}}
        return _table_json(self.catalog.create_table(identifier, **args))

    def _commit(self, identifier: Identifier, body: bytes) -> dict[str, Any]:
        request = CommitTableRequest.model_validate_json(body)
        creating = any(isinstance(r, AssertCreate) for r in request.requirements)
        if not creating and not self.catalog.table_exists(identifier):
            raise NoSuchTableError(f"table {'.'.join(identifier)} does not exist")
        response = self.catalog.commit_table(
            _Named(identifier), request.requirements, request.updates)  # type: ignore[arg-type]
        return {"metadata-location": response.metadata_location,
                "metadata": _metadata_json(response.metadata)}


class _OAuthRefused(HttpError):
    """A token request with an unknown client id or a wrong secret."""

    def __init__(self) -> None:
        super().__init__(401, "invalid_client", "unknown client_id or wrong client_secret")


def _namespace(segment: str) -> Identifier:
    return tuple(segment.split(NAMESPACE_SEPARATOR))


def _table_json(table: Table) -> dict[str, Any]:
    """The spec's LoadTableResult of a stored table."""
    return {"metadata-location": table.metadata_location,
            "metadata": _metadata_json(table.metadata), "config": {}}


def _metadata_json(metadata: TableMetadata) -> dict[str, Any]:
    """TableMetadata as the spec spells it (pyiceberg's models dump by alias)."""
    document: dict[str, Any] = json.loads(metadata.model_dump_json())
    return document


def _error(status: int, kind: str, message: str) -> dict[str, Any]:
    if kind == "invalid_client":  # OAuth's own error shape
        return {"error": kind, "error_description": message}
    return {"error": {"message": message, "type": kind, "code": status}}


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing only: RestCatalogServer.handle decides every answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, as requests' pooled sessions expect
    timeout = 10  # an idle keep-alive connection's thread ends after this

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        app: RestCatalogServer = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = app.handle(self.command, self.path, headers, body)
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # RestCatalogServer.requests keeps the log; stderr stays quiet
