"""The lakeconsole error hierarchy: every error we raise on purpose is a LakeError."""

from __future__ import annotations


class LakeError(Exception):
    """Base of every error lakeconsole raises on purpose."""


class ConfigError(LakeError):
    """A configuration file, key or value is unusable; the message names file and key."""


class SchemaError(LakeError):
    """A subject, schema or dataset is unknown or inconsistent."""


class StorageError(LakeError):
    """Reading, writing or listing the lake storage failed."""


class CompactionError(LakeError):
    """Silver compaction of a partition failed or was refused."""


class QueryError(LakeError):
    """A query over the lake is invalid or failed."""


class IngestError(LakeError):
    """The NATS side (connection, streams, consumers, acks) failed."""


def describe(exc: BaseException, limit: int = 300) -> str:
    """One line naming what failed: the exception type and the first line of its message.

    Third-party errors (botocore, msgspec, Arrow) can carry pages of text or a whole
    payload; logs and quarantine reasons keep one bounded line.
    """
    text = str(exc).strip().splitlines()
    line = _known_cause(exc) or (f"{type(exc).__name__}: {text[0]}" if text
                                 else type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _known_cause(exc: BaseException) -> str:
    """A plainer line for botocore's commonest failures (matched by name: no botocore here)."""
    name = type(exc).__name__
    kwargs = getattr(exc, "kwargs", None)
    url = kwargs.get("endpoint_url") if isinstance(kwargs, dict) else None
    if name in ("EndpointConnectionError", "ConnectTimeoutError") and isinstance(url, str):
        # The URL carries the request's path and query; the endpoint is scheme://host:port.
        scheme, _, rest = url.partition("://")
        endpoint = f"{scheme}://{rest.split('/', 1)[0]}" if rest else url
        return f"S3 endpoint {endpoint} unreachable ({name})"
    if name == "NoCredentialsError":
        return ("no S3 credentials (NoCredentialsError): set S3_ACCESS_KEY and "
                "S3_SECRET_KEY, or AWS credentials")
    return ""


class CorruptFileError(StorageError):
    """A stored file is damaged: failed CRC, undecodable, or contradicts its own metadata."""
