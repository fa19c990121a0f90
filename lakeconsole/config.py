"""Typed, frozen settings: defaults < config file < environment < command-line flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_type_hints

from lakeconsole.errors import ConfigError

CONFIG_ENV = "LAKECONSOLE_CONFIG"
DEFAULT_CONFIG_FILE = "lakeconsole.toml"


@dataclass(frozen=True)
class StorageSettings:
    """Where the lake lives: a local directory or an S3/MinIO bucket."""

    root: str = "data/lake"
    use_s3: bool = False
    s3_bucket: str = ""
    s3_prefix: str = "lake"
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    timeout_s: float = 20.0

    @property
    def root_is_url(self) -> bool:
        """Whether `root` is an `s3://` URL, which names the lake root exactly."""
        return self.root.startswith(("s3://", "s3a://"))

    @property
    def is_s3(self) -> bool:
        """Whether the lake lives in S3/MinIO (a `s3://` root, or use_s3 with a bucket)."""
        return self.root_is_url or self.use_s3

    @property
    def url(self) -> str:
        """The fsspec URL of the lake root (docs/design.md §6: an s3:// root is exact)."""
        if self.root_is_url or not self.use_s3:
            return self.root
        prefix = self.s3_prefix.strip("/")
        return f"s3://{self.s3_bucket}/{prefix}" if prefix else f"s3://{self.s3_bucket}"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for fsspec/s3fs."""
        if not self.is_s3:
            return {}
        # Bounded waits: a hung or refused endpoint becomes an error, never a silent stall.
        config = {
            "connect_timeout": min(5.0, self.timeout_s),
            "read_timeout": self.timeout_s,
            "retries": {"max_attempts": 2, "mode": "standard"},
        }
        opts: dict[str, Any] = {
            "client_kwargs": {"region_name": self.s3_region},
            "config_kwargs": config,
        }
        if self.s3_endpoint:
            opts["endpoint_url"] = self.s3_endpoint
        if self.s3_access_key:
            opts["key"] = self.s3_access_key
            opts["secret"] = self.s3_secret_key
        return opts


@dataclass(frozen=True)
class NatsSettings:
    """NATS connection and JetStream consumer settings."""

    url: str = "nats://127.0.0.1:4222"
    embedded: bool = False
    bronze_consumer: str = "lake-bronze"
    gold_consumer: str = "lake-gold"
    ack_wait_s: float = 60.0
    max_ack_pending: int = 20000
    max_message_bytes: int = 1_048_576
    max_inflight_mb: int = 32
    max_deliver: int = 10
    stream_max_age_s: float = 7 * 86400.0
    stream_max_bytes: int = 10 * 2**30
    nak_delay_s: float = 1.0
    nak_delay_max_s: float = 60.0


@dataclass(frozen=True)
class IngestSettings:
    """What the writers accept beyond the schemas: the range of event times."""

    min_event_date: str = "1970-01-01"
    max_event_date: str = "2200-01-01"
    # Rows a dataset's flushes hold decoded at once (two flushes of half this, at most).
    max_flush_rows: int = 40_000

    def event_ns_range(self) -> tuple[int, int]:
        """[min, max) of ts_event_ns in nanoseconds (UTC midnights of the two dates)."""
        return _midnight_ns(self.min_event_date), _midnight_ns(self.max_event_date)


@dataclass(frozen=True)
class ServiceSettings:
    """Service lifecycle."""

    stop_grace_s: float = 30.0


@dataclass(frozen=True)
class BronzeSettings:
    """Micro-batching of the Bronze writer, and how long Bronze is kept once in Silver."""

    max_events: int = 1000
    max_age_s: float = 5.0
    retain_days: int = 0  # 0: keep forever


@dataclass(frozen=True)
class GoldSettings:
    """Micro-batching of the Gold writer."""

    max_records: int = 500
    max_age_s: float = 10.0


@dataclass(frozen=True)
class ParquetSettings:
    """How every Parquet file is encoded."""

    compression: str = "zstd"
    compression_level: int = 3


@dataclass(frozen=True)
class SilverSettings:
    """Silver compaction."""

    target_file_mb: int = 256
    workers: int = 2
    lease_ttl_s: float = 900.0
    # Automatic compaction in the service (lakeconsole.silver.auto): off unless asked.
    auto: bool = False
    auto_delay_s: float = 600.0  # after an hour closes, before it is compacted
    auto_submit: bool = False  # queue the due jobs on LAKE_JOBS for workers instead
    job_ack_wait_s: float = 60.0  # a worker silent this long loses its job to another
    job_max_deliver: int = 5  # tries of one job before it is terminated and reported


@dataclass(frozen=True)
class IcebergSettings:
    """Silver registered as Apache Iceberg tables (lakeconsole.iceberg): off unless asked."""

    enabled: bool = False
    catalog: str = "sql"  # "sql": embedded SQLite file; "rest": a REST catalog at `uri`
    uri: str = ""  # sql: a SQLAlchemy URL (default: sqlite at catalog_path); rest: http(s)://
    warehouse: str = ""  # rest: the catalog's warehouse name, if it wants one
    credential: str = ""  # rest: client_id:secret (OAuth2), if the catalog wants one
    token: str = ""  # rest: a bearer token, if the catalog wants one
    catalog_path: str = ""  # sql: SQLite file; "" = {root}/_iceberg/catalog.db on a local lake
    keep_snapshots: int = 10  # newest snapshots of a table always kept
    keep_hours: float = 1.0  # older snapshots kept this long (commit cost grows with them)


@dataclass(frozen=True)
class QuarantineSettings:
    """How long quarantined input is kept for someone to look at."""

    retain_days: int = 0  # 0: keep forever


@dataclass(frozen=True)
class ConsoleSettings:
    """The Textual console."""

    theme: str = "lake-dark"
    refresh_hz: float = 4.0
    local_time: bool = False
    keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus /metrics, /healthz and /readyz over HTTP."""

    # "": the mode's default (headless 127.0.0.1:9464, console off); "off"; or HOST:PORT.
    addr: str = ""
    ready_flush_failing_s: float = 60.0


HEADLESS_METRICS_ADDR = "127.0.0.1:9464"


def metrics_address(addr: str, default: str) -> tuple[str, int] | None:
    """(host, port) to serve metrics on, or None when off; `default` stands in for ""."""
    text = (addr or default).strip()
    if text.lower() in ("", "off"):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or off, got {text!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Settings:
    """All of lakeconsole's settings, and the file they came from (if any)."""

    storage: StorageSettings = field(default_factory=StorageSettings)
    nats: NatsSettings = field(default_factory=NatsSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    bronze: BronzeSettings = field(default_factory=BronzeSettings)
    gold: GoldSettings = field(default_factory=GoldSettings)
    parquet: ParquetSettings = field(default_factory=ParquetSettings)
    silver: SilverSettings = field(default_factory=SilverSettings)
    quarantine: QuarantineSettings = field(default_factory=QuarantineSettings)
    iceberg: IcebergSettings = field(default_factory=IcebergSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    source: str = "defaults"


# The environment names of docs/design.md §6, mapped to dotted keys.
ENVIRONMENT: dict[str, str] = {
    "DATA_ROOT": "storage.root",
    "USE_S3": "storage.use_s3",
    "S3_BUCKET": "storage.s3_bucket",
    "S3_PREFIX": "storage.s3_prefix",
    "S3_ENDPOINT": "storage.s3_endpoint",
    "S3_ACCESS_KEY": "storage.s3_access_key",
    "S3_SECRET_KEY": "storage.s3_secret_key",
    "S3_REGION": "storage.s3_region",
    "NATS_URL": "nats.url",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_settings(
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from the config file, the environment and flag overrides."""
    env = os.environ if env is None else env
    path = _find_config_file(config_path, env)
    raw: dict[str, Any] = _read_toml(path) if path else {}
    source = str(path) if path else "defaults"
    values = _flatten(raw, source)
    for name, key in ENVIRONMENT.items():
        if name in env:
            values[key] = _from_env(env[name], key, name)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return _build(values, source)


def _find_config_file(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _flatten(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Turn {'storage': {'root': x}} into {'storage.root': x}, rejecting unknown keys."""
    sections = {f.name: f for f in dataclasses.fields(Settings) if f.name != "source"}
    values: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in sections:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: key '{section}' must be a table")
        known = {f.name for f in dataclasses.fields(_section_type(section))}
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if key not in known:
                raise ConfigError(f"{source}: unknown key '{dotted}'")
            values[dotted] = value
    return values


def _section_type(section: str) -> type[Any]:
    hints = get_type_hints(Settings)
    cls: type[Any] = hints[section]
    return cls


def _from_env(text: str, key: str, name: str) -> Any:
    """Parse an environment variable's text as the key's declared type."""
    section, attr = key.split(".")
    expected = get_type_hints(_section_type(section))[attr]
    if expected is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ConfigError(f"environment variable {name} ({key}): expected true/false, got {text!r}")
    if expected in (int, float):
        try:
            return expected(text.strip())
        except ValueError:
            kind = expected.__name__
            raise ConfigError(
                f"environment variable {name} ({key}): expected {kind}, got {text!r}"
            ) from None
    return text


def _build(values: dict[str, Any], source: str) -> Settings:
    sections: dict[str, Any] = {}
    for section in (f.name for f in dataclasses.fields(Settings) if f.name != "source"):
        cls = _section_type(section)
        hints = get_type_hints(cls)
        kwargs = {}
        for key, value in values.items():
            sect, _, attr = key.partition(".")
            if sect == section:
                kwargs[attr] = _coerce(value, hints[attr], key, source)
        sections[section] = cls(**kwargs)
    settings = Settings(**sections, source=source)
    _validate(settings, source)
    return settings


def _coerce(value: Any, expected: Any, key: str, source: str) -> Any:
    """Check one value against its declared type; accept ints for floats.

    Text is never converted here: a file's `max_events = "5"` is a type error. Environment
    text is parsed by `_from_env` before it gets here.
    """
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and isinstance(value, bool):
        return value
    origin = getattr(expected, "__origin__", None)
    if origin is not None and isinstance(value, dict):
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return dict(value)
        raise ConfigError(f"{source}: key '{key}' must map names to strings")
    if expected in (int, float, str) and type(value) is expected:
        return value
    name = getattr(expected, "__name__", str(expected))
    raise ConfigError(
        f"{source}: key '{key}' must be {name}, got {type(value).__name__} {value!r}"
    )


def _validate(s: Settings, source: str) -> None:
    checks = [
        (s.bronze.max_events > 0, "bronze.max_events", "must be > 0"),
        (s.bronze.max_age_s > 0, "bronze.max_age_s", "must be > 0"),
        (s.gold.max_records > 0, "gold.max_records", "must be > 0"),
        (s.gold.max_age_s > 0, "gold.max_age_s", "must be > 0"),
        (1 <= s.parquet.compression_level <= 22, "parquet.compression_level", "must be 1..22"),
        (s.parquet.compression == "zstd", "parquet.compression", "only 'zstd' is supported"),
        (s.silver.target_file_mb > 0, "silver.target_file_mb", "must be > 0"),
        (s.silver.workers > 0, "silver.workers", "must be > 0"),
        (s.silver.lease_ttl_s >= 10, "silver.lease_ttl_s", "must be >= 10"),
        (s.silver.auto_delay_s >= 0, "silver.auto_delay_s", "must be >= 0"),
        (s.silver.job_ack_wait_s >= 1, "silver.job_ack_wait_s", "must be >= 1"),
        (s.silver.job_max_deliver >= 1, "silver.job_max_deliver", "must be >= 1"),
        (s.bronze.retain_days >= 0, "bronze.retain_days", "must be >= 0 (0: keep forever)"),
        (s.quarantine.retain_days >= 0, "quarantine.retain_days",
         "must be >= 0 (0: keep forever)"),
        (s.console.refresh_hz > 0, "console.refresh_hz", "must be > 0"),
        (not s.storage.use_s3 or s.storage.root_is_url or bool(s.storage.s3_bucket),
         "storage.s3_bucket", "is required when storage.use_s3 is true and root is not s3://"),
        (s.storage.timeout_s > 0, "storage.timeout_s", "must be > 0"),
        (s.nats.max_deliver > 0, "nats.max_deliver", "must be > 0"),
        (s.nats.stream_max_age_s >= 0, "nats.stream_max_age_s", "must be >= 0 (0: no limit)"),
        (s.nats.stream_max_bytes > 0 or s.nats.stream_max_bytes == -1,
         "nats.stream_max_bytes", "must be > 0, or -1 for no limit"),
        (s.nats.nak_delay_s > 0, "nats.nak_delay_s", "must be > 0"),
        (s.nats.nak_delay_max_s >= s.nats.nak_delay_s, "nats.nak_delay_max_s",
         "must be >= nats.nak_delay_s"),
        (s.service.stop_grace_s >= 0, "service.stop_grace_s", "must be >= 0"),
        (s.nats.max_ack_pending > 0, "nats.max_ack_pending", "must be > 0"),
        (s.nats.max_inflight_mb > 0, "nats.max_inflight_mb", "must be > 0"),
        (s.ingest.max_flush_rows > 0, "ingest.max_flush_rows", "must be > 0"),
    ]
    for ok, key, why in checks:
        if not ok:
            raise ConfigError(f"{source}: key '{key}' {why}")
    _validate_event_dates(s.ingest, source)
    _validate_metrics(s.metrics, source)
    _validate_iceberg(s, source)


def _validate_iceberg(s: Settings, source: str) -> None:
    ice = s.iceberg
    checks = [
        (ice.catalog in ("sql", "rest"), "iceberg.catalog", "must be 'sql' or 'rest'"),
        (ice.catalog != "rest" or bool(ice.uri), "iceberg.uri",
         "is required when iceberg.catalog is 'rest'"),
        (not ice.enabled or ice.catalog != "sql" or not s.storage.is_s3 or bool(
            ice.catalog_path or ice.uri), "iceberg.catalog_path",
         "is required for the sql catalog of an S3 lake (a local SQLite file)"),
        (ice.keep_snapshots >= 1, "iceberg.keep_snapshots", "must be >= 1"),
        (ice.keep_hours >= 0, "iceberg.keep_hours", "must be >= 0"),
    ]
    for ok, key, why in checks:
        if not ok:
            raise ConfigError(f"{source}: key '{key}' {why}")


def _validate_metrics(metrics: MetricsSettings, source: str) -> None:
    try:
        metrics_address(metrics.addr, "")
    except ValueError as exc:
        raise ConfigError(f"{source}: key 'metrics.addr' {exc}") from None
    if metrics.ready_flush_failing_s <= 0:
        raise ConfigError(f"{source}: key 'metrics.ready_flush_failing_s' must be > 0")


def _midnight_ns(day: str) -> int:
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def _validate_event_dates(ingest: IngestSettings, source: str) -> None:
    for key in ("min_event_date", "max_event_date"):
        text = getattr(ingest, key)
        try:
            ns = _midnight_ns(text)
        except ValueError:
            raise ConfigError(
                f"{source}: key 'ingest.{key}' must be YYYY-MM-DD, got {text!r}"
            ) from None
        if not 0 <= ns < 2**63:
            raise ConfigError(f"{source}: key 'ingest.{key}' must be within 1970..2262")
    low, high = ingest.event_ns_range()
    if low >= high:
        raise ConfigError(f"{source}: key 'ingest.max_event_date' must be after min_event_date")
