"""Tuning of Silver compaction, shared by the compactor and the chunk writer."""

from __future__ import annotations

from dataclasses import dataclass, field

from lakeconsole.config import Settings, SilverSettings
from lakeconsole.lake.parquet import Encoding

MIB = 1024 * 1024


@dataclass(frozen=True)
class CompactionParams:
    """Tuning of the compactor; `from_settings` maps the `[silver]`/`[parquet]` sections."""

    target_file_bytes: int = 256 * MIB
    workers: int = 2
    threads: int = 2
    encoding: Encoding = field(default_factory=Encoding)
    lease_ttl_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings | SilverSettings) -> CompactionParams:
        """Parameters from the whole Settings or just its Silver section."""
        silver = settings.silver if isinstance(settings, Settings) else settings
        encoding = Encoding()
        if isinstance(settings, Settings):
            encoding = Encoding(settings.parquet.compression, settings.parquet.compression_level)
        return cls(silver.target_file_mb * MIB, silver.workers, encoding=encoding,
                   lease_ttl_s=silver.lease_ttl_s)
