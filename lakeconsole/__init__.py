"""lakeconsole: a keyboard-driven console for a NATS JetStream → Parquet market-data lake."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lakeconsole")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
