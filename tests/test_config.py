"""Config: defaults, file/env/flag precedence, discovery, and errors naming file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lakeconsole import cli
from lakeconsole.config import CONFIG_ENV, ENVIRONMENT, Settings, load_settings
from lakeconsole.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data"
GOOD = DATA / "good_full.toml"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No lakeconsole variables in the environment and a cwd without lakeconsole.toml."""
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.source == "defaults"
    assert s.storage.root == "data/lake"
    assert s.storage.use_s3 is False
    assert s.storage.url == "data/lake"
    assert (s.bronze.max_events, s.bronze.max_age_s) == (1000, 5.0)
    assert (s.gold.max_records, s.gold.max_age_s) == (500, 10.0)
    assert (s.parquet.compression, s.parquet.compression_level) == ("zstd", 3)
    assert s.silver.target_file_mb == 256
    assert s.nats.url == "nats://127.0.0.1:4222"
    assert dict(s.console.keys) == {}


def test_full_file_is_read(clean_env: Path) -> None:
    s = load_settings(GOOD, env={})
    assert s.source == str(GOOD)
    assert s.storage.url == "s3://desk-lake/prod"
    assert s.storage.storage_options() == {
        "client_kwargs": {"region_name": "eu-west-1"},
        "config_kwargs": {
            "connect_timeout": 5.0,
            "read_timeout": 20.0,
            "retries": {"max_attempts": 2, "mode": "standard"},
        },
        "endpoint_url": "http://127.0.0.1:9000",
        "key": "AKIA",
        "secret": "s3cret",
    }
    assert s.nats.ack_wait_s == 30.0 and isinstance(s.nats.ack_wait_s, float)
    assert (s.bronze.max_events, s.gold.max_age_s, s.parquet.compression_level) == (50, 1.5, 9)
    assert (s.silver.target_file_mb, s.silver.workers) == (64, 4)
    assert dict(s.console.keys) == {"quit": "ctrl+q", "compact": "c"}


# --- one test per failure: the message names the file and the (dotted) key ----------------


def test_unknown_key(clean_env: Path) -> None:
    path = DATA / "bad_unknown_key.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "'bronze.max_evnets'" in str(err.value)
    assert "unknown key" in str(err.value)


def test_wrong_type(clean_env: Path) -> None:
    path = DATA / "bad_type.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "'gold.max_records'" in str(err.value)
    assert "must be int" in str(err.value)


def test_invalid_toml(clean_env: Path) -> None:
    path = DATA / "bad_toml.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "not valid TOML" in str(err.value)
    assert "line 1" in str(err.value)


def test_unknown_section(clean_env: Path) -> None:
    path = DATA / "bad_section.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert "[sliver]" in str(err.value)


def test_section_must_be_a_table(clean_env: Path) -> None:
    path = DATA / "bad_not_table.toml"
    with pytest.raises(ConfigError, match=r"bad_not_table\.toml: key 'bronze' must be a table"):
        load_settings(path, env={})


def test_key_bindings_must_be_strings(clean_env: Path) -> None:
    path = DATA / "bad_keys_type.toml"
    with pytest.raises(ConfigError, match=r"bad_keys_type\.toml: key 'console\.keys'"):
        load_settings(path, env={})


def test_out_of_range_value(clean_env: Path) -> None:
    path = DATA / "bad_value.toml"
    with pytest.raises(ConfigError, match=r"bad_value\.toml: key 'parquet\.compression_level'"):
        load_settings(path, env={})


def test_missing_file(clean_env: Path) -> None:
    path = clean_env / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(path, env={})


def test_unreadable_file(clean_env: Path) -> None:
    # A directory cannot be read as a file, even by root (chmod 000 would not stop root).
    path = clean_env / "a_directory.toml"
    path.mkdir()
    with pytest.raises(ConfigError, match=r"a_directory\.toml: cannot read config file"):
        load_settings(path, env={})


def test_bad_boolean_in_environment(clean_env: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"USE_S3": "maybe"})
    assert "USE_S3" in str(err.value) and "storage.use_s3" in str(err.value)


def test_s3_without_bucket_is_refused(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.s3_bucket"):
        load_settings(env={"USE_S3": "1"})


def test_cli_reports_config_error_and_exits_2(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / "bad_unknown_key.toml"
    code = cli.main(["--config", str(path), "read", "bronze", "stocks.trades", "SPY",
                     "--date", "2024-01-02"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(path) in err and "bronze.max_evnets" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", str(GOOD), "--data-root", "/r", "read", "bronze", "x", "y", "--date", "d"],
        ["read", "bronze", "x", "y", "--date", "d", "--config", str(GOOD), "--data-root", "/r"],
    ],
    ids=["before-subcommand", "after-subcommand"],
)
def test_common_flags_before_or_after_subcommand(clean_env: Path, argv: list[str]) -> None:
    s = cli.settings_from(cli.build_parser().parse_args(argv))
    assert (s.source, s.storage.root, s.bronze.max_events) == (str(GOOD), "/r", 50)


# --- precedence: flag > environment > file > default ------------------------------------

ENV_VALUES = {
    "DATA_ROOT": "/env/lake",
    "USE_S3": "true",
    "S3_BUCKET": "env-bucket",
    "S3_ENDPOINT": "http://env:9000",
    "S3_ACCESS_KEY": "env-key",
    "S3_SECRET_KEY": "env-secret",
    "NATS_URL": "nats://env:4222",
}


def test_file_beats_default(clean_env: Path) -> None:
    s = load_settings(GOOD, env={})
    assert s.storage.root == "/srv/lake"  # default is data/lake
    assert s.bronze.max_events == 50  # default is 1000


def test_environment_beats_file(clean_env: Path) -> None:
    s = load_settings(GOOD, env=ENV_VALUES)
    assert s.storage.root == "/env/lake"
    assert s.storage.use_s3 is True
    assert s.storage.s3_bucket == "env-bucket"
    assert s.storage.s3_endpoint == "http://env:9000"
    assert s.storage.s3_access_key == "env-key"
    assert s.storage.s3_secret_key == "env-secret"
    assert s.nats.url == "nats://env:4222"
    assert s.storage.s3_region == "eu-west-1"  # not in the environment: the file's value


@pytest.mark.parametrize("value, expected", [("0", False), ("false", False), ("YES", True)])
def test_environment_false_beats_file_true(clean_env: Path, value: str, expected: bool) -> None:
    assert load_settings(GOOD, env={"USE_S3": value}).storage.use_s3 is expected


def test_flags_beat_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV_VALUES.items():
        monkeypatch.setenv(name, value)
    args = cli.build_parser().parse_args(
        ["--config", str(GOOD), "--data-root", "/flag/lake", "--nats-url", "nats://flag:1"]
    )
    s = cli.settings_from(args)
    assert s.storage.root == "/flag/lake"
    assert s.storage.use_s3 is False  # an explicit local root wins over USE_S3
    assert s.storage.url == "/flag/lake"
    assert s.nats.url == "nats://flag:1"
    assert s.bronze.max_events == 50  # no flag, no env: the file


def test_environment_applies_without_flags(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ROOT", "/env/only")
    monkeypatch.setenv("NATS_URL", "nats://env-only:4222")
    s = cli.settings_from(cli.build_parser().parse_args([]))
    assert (s.storage.root, s.nats.url) == ("/env/only", "nats://env-only:4222")


def test_overrides_of_none_are_ignored(clean_env: Path) -> None:
    s = load_settings(GOOD, env={}, overrides={"storage.root": None, "nats.url": None})
    assert (s.storage.root, s.nats.url) == ("/srv/lake", "nats://nats.internal:4222")


# --- discovery: --config > $LAKECONSOLE_CONFIG > ./lakeconsole.toml > none ---------------


def _write(path: Path, max_events: int) -> Path:
    path.write_text(f"[bronze]\nmax_events = {max_events}\n")
    return path


def test_env_config_path_is_used(clean_env: Path) -> None:
    path = _write(clean_env / "from_env.toml", 11)
    s = load_settings(env={CONFIG_ENV: str(path)})
    assert s.source == str(path) and s.bronze.max_events == 11


def test_local_file_is_discovered(clean_env: Path) -> None:
    _write(clean_env / "lakeconsole.toml", 22)
    s = load_settings(env={})
    assert s.source == "lakeconsole.toml" and s.bronze.max_events == 22


def test_env_config_beats_local_file(clean_env: Path) -> None:
    _write(clean_env / "lakeconsole.toml", 22)
    path = _write(clean_env / "from_env.toml", 11)
    assert load_settings(env={CONFIG_ENV: str(path)}).bronze.max_events == 11


def test_explicit_path_beats_env_config(clean_env: Path) -> None:
    explicit = _write(clean_env / "explicit.toml", 33)
    from_env = _write(clean_env / "from_env.toml", 11)
    s = load_settings(explicit, env={CONFIG_ENV: str(from_env)})
    assert s.bronze.max_events == 33


def test_cli_config_flag_and_env_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = _write(clean_env / "from_env.toml", 11)
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    assert cli.settings_from(cli.build_parser().parse_args([])).bronze.max_events == 11
    shutil.copy(GOOD, clean_env / "flag.toml")
    args = cli.build_parser().parse_args(["--config", str(clean_env / "flag.toml")])
    assert cli.settings_from(args).bronze.max_events == 50


def test_settings_are_frozen(clean_env: Path) -> None:
    s = load_settings(env={})
    with pytest.raises(AttributeError):
        s.bronze.max_events = 1  # type: ignore[misc]
    assert isinstance(s, Settings)


def test_s3_data_root_is_the_root_exactly(clean_env: Path) -> None:
    """DATA_ROOT=s3://lake names the root: no default S3_PREFIX is added under it."""
    env = {"DATA_ROOT": "s3://lake", "USE_S3": "true", "S3_ENDPOINT": "http://127.0.0.1:9"}
    s = load_settings(env=env)
    assert s.storage.url == "s3://lake"
    assert s.storage.is_s3
    assert s.storage.storage_options()["endpoint_url"] == "http://127.0.0.1:9"
    # Without USE_S3 and without a bucket, an s3:// root is still S3, with its endpoint.
    s = load_settings(env={"DATA_ROOT": "s3://lake/desk/", "S3_ENDPOINT": "http://127.0.0.1:9"})
    assert s.storage.url == "s3://lake/desk/"
    assert s.storage.storage_options()["endpoint_url"] == "http://127.0.0.1:9"
    # The bucket/prefix pair still names the root when DATA_ROOT is a local path.
    s = load_settings(env={"USE_S3": "1", "S3_BUCKET": "lake"})
    assert s.storage.url == "s3://lake/lake"


def test_s3_storage_has_bounded_timeouts(clean_env: Path) -> None:
    s = load_settings(env={"DATA_ROOT": "s3://lake"}, overrides={"storage.timeout_s": 2.5})
    config = s.storage.storage_options()["config_kwargs"]
    assert (config["connect_timeout"], config["read_timeout"]) == (2.5, 2.5)


def test_event_date_range_is_checked(clean_env: Path, tmp_path: Path) -> None:
    s = load_settings(env={})
    assert s.ingest.event_ns_range() == (0, 7_258_118_400 * 10**9)  # 1970 .. 2200-01-01
    bad = tmp_path / "dates.toml"
    bad.write_text('[ingest]\nmax_event_date = "2300-01-01"\n')
    with pytest.raises(ConfigError, match=r"dates.toml: key 'ingest.max_event_date'"):
        load_settings(bad, env={})
    bad.write_text('[ingest]\nmin_event_date = "yesterday"\n')
    with pytest.raises(ConfigError, match=r"key 'ingest.min_event_date' must be YYYY-MM-DD"):
        load_settings(bad, env={})
