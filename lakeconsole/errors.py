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
