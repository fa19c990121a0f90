"""Command line: the console, headless service, and scriptable compact/read/simulate."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from lakeconsole import __version__
from lakeconsole.children import positive_processes
from lakeconsole.config import Settings, load_settings
from lakeconsole.contract.tiers import DATA_TIERS
from lakeconsole.errors import ConfigError, LakeError, describe


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `lakeconsole`."""
    parser = argparse.ArgumentParser(
        prog="lakeconsole",
        description="Market-data lake console: NATS JetStream → Bronze/Silver/Gold Parquet.",
    )
    parser.add_argument("--version", action="version", version=f"lakeconsole {__version__}")
    _add_common(parser)
    parser.add_argument("--headless", action="store_true", help="run the writers without the UI")
    parser.add_argument(  # with --headless too: the demo as a plain service
        "--demo", action="store_true", help="embedded NATS server and a synthetic market feed"
    )
    _add_ops(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_compact(sub)
    _add_worker(sub)
    _add_read(sub)
    _add_simulate(sub)
    _add_prune(sub)
    _add_serve(sub)
    _add_coverage(sub)
    _add_iceberg(sub)
    return parser


def _add_common(parser: argparse.ArgumentParser, sub: bool = False) -> None:
    # On a subcommand the flags default to "absent", so that `--config X read …` keeps the
    # value given before the subcommand instead of resetting it to None.
    default = argparse.SUPPRESS if sub else None
    parser.add_argument("--config", metavar="PATH", default=default, help="TOML config file")
    parser.add_argument(
        "--data-root", metavar="PATH", default=default, help="lake root (overrides DATA_ROOT)"
    )
    parser.add_argument(
        "--nats-url", metavar="URL", default=default, help="NATS server (overrides NATS_URL)"
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if sub else False,
                        help="print the full traceback of an error")


def _add_ops(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-addr", metavar="HOST:PORT",
        help="serve /metrics, /healthz, /readyz here; 'off' disables (default: headless "
             "127.0.0.1:9464, console off; overrides [metrics] addr)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text",
                        help="headless log lines: text, or one JSON object a line")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default="info", help="headless: the lowest level logged")
    parser.add_argument("--processes", type=positive_processes, default=1, metavar="N",
                        help="headless: N ingest processes sharing the durable consumers, "
                             "supervised by this one (default 1)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # set by the supervisor


def _add_compact(sub: Any) -> None:
    p = sub.add_parser("compact", help="compact Bronze into Silver")
    _add_common(p, sub=True)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", metavar="YYYY-MM-DD", help="UTC date to compact")
    when.add_argument("--all-dates", action="store_true", help="every date with Bronze data")
    p.add_argument("--dataset", "--schema", dest="schema", metavar="NAME",
                   help="dataset, e.g. stocks.trades (default: all); --schema is an alias")
    p.add_argument("--partition", metavar="VALUE", help="partition value, e.g. SPY")
    p.add_argument("--json", action="store_true", help="one JSON result per line")
    p.add_argument("--workers", type=int, help="parallel compactions")
    p.add_argument(
        "--force", action="store_true", help="rewrite Silver even when Bronze is unchanged"
    )
    p.add_argument("--submit", action="store_true",
                   help="queue the jobs on NATS (LAKE_JOBS) for `lakeconsole worker`s")
    p.add_argument("--wait", action="store_true",
                   help="with --submit: print each job's result as a worker reports it")


def _add_worker(sub: Any) -> None:
    p = sub.add_parser("worker", help="run compaction jobs queued on NATS (LAKE_JOBS)")
    _add_common(p, sub=True)
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at a time")


def _add_read(sub: Any) -> None:
    p = sub.add_parser("read", help="print rows of one partition and date")
    _add_common(p, sub=True)
    p.add_argument("tier", choices=DATA_TIERS)
    p.add_argument("schema", metavar="DATASET", help="e.g. stocks.trades")
    p.add_argument("partition", metavar="VALUE", help="partition value, e.g. SPY")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--start-ns", type=int)
    p.add_argument("--end-ns", type=int)
    p.add_argument("--columns", help="comma-separated column names")
    p.add_argument("--limit", type=int, default=20, help="rows to print (0: all)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser("simulate", help="publish a synthetic market feed to NATS")
    _add_common(p, sub=True)
    p.add_argument("--rate", type=float, default=1000.0, help="events per second")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    p.add_argument("--batch", type=int, default=1, help="events per message")
    p.add_argument("--seed", type=int, default=None)


def _add_prune(sub: Any) -> None:
    p = sub.add_parser("prune", help="delete Bronze that Silver holds and old quarantine")
    _add_common(p, sub=True)
    p.add_argument("--dry-run", action="store_true", help="show the plan; delete nothing")
    p.add_argument("--dataset", metavar="NAME",
                   help="one Bronze dataset, e.g. stocks.trades (default: all)")
    p.add_argument("--today", metavar="YYYY-MM-DD",
                   help="UTC date that ages are counted from (default: today)")
    p.add_argument("--json", action="store_true", help="one JSON result per line")


def _add_coverage(sub: Any) -> None:
    p = sub.add_parser("coverage", help="is the lake complete? rows, gaps and losses per hour")
    _add_common(p, sub=True)
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="UTC date to check")
    p.add_argument("--dataset", "--schema", dest="dataset", metavar="NAME",
                   help="dataset, e.g. stocks.trades (default: all)")
    p.add_argument("--partition", metavar="VALUE", help="partition value, e.g. SPY")
    p.add_argument("--json", action="store_true", help="one JSON object per hour")


def _add_iceberg(sub: Any) -> None:
    p = sub.add_parser("iceberg",
                       help="Silver and Gold as Apache Iceberg tables ([iceberg] enabled)")
    actions = p.add_subparsers(dest="iceberg_command", metavar="ACTION", required=True)
    s = actions.add_parser(
        "sync", help="commit what Silver's manifests and Gold's files name; expire; tidy")
    _add_common(s, sub=True)
    s.add_argument("--dataset", metavar="NAME", help="one dataset, e.g. stocks.trades")
    s.add_argument("--json", action="store_true", help="one JSON result per line")
    h = actions.add_parser("history", help="each table's live snapshots, newest first")
    _add_common(h, sub=True)
    h.add_argument("--dataset", metavar="NAME", help="one dataset, e.g. stocks.trades")
    h.add_argument("--json", action="store_true", help="one JSON snapshot per line")


def _add_serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the console to a browser (textual-serve)")
    _add_common(p, sub=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                   help="each browser session runs the console with --demo")


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings with the command-line flags applied last."""
    overrides = {
        "storage.root": getattr(args, "data_root", None),
        "nats.url": getattr(args, "nats_url", None),
        "metrics.addr": getattr(args, "metrics_addr", None),
        # A supervised child connects to the parent's server; it never starts its own.
        "nats.embedded": False if getattr(args, "child", None) is not None else None,
    }
    if getattr(args, "data_root", None):
        overrides["storage.use_s3"] = False  # an explicit local root wins over USE_S3
    return load_settings(getattr(args, "config", None), overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lakeconsole` command."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        return _dispatch(args, settings)
    except LakeError as exc:
        return _report(args, str(exc), 2)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line unless --debug
        return _report(args, describe(exc), 1)


def _report(args: argparse.Namespace, message: str, code: int) -> int:
    """Print an error (after its traceback with --debug); returns the exit code."""
    if args.debug:
        traceback.print_exc()
    print(f"lakeconsole: error: {message}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "compact" and args.submit:  # queue for `lakeconsole worker`s
        from lakeconsole.commands.submit import run_submit

        return run_submit(args, settings)
    if args.command == "compact":
        from lakeconsole.commands.compact import run_compact

        return run_compact(args, settings)
    if args.command == "worker":
        from lakeconsole.commands.worker import run_worker

        return run_worker(args, settings)
    if args.command == "read":
        from lakeconsole.commands.read import run_read

        return run_read(args, settings)
    if args.command == "simulate":
        from lakeconsole.commands.simulate import run_simulate

        return run_simulate(args, settings)
    if args.command == "serve":
        from lakeconsole.commands.serve import run_serve

        return run_serve(args, settings)
    if args.command == "prune":
        from lakeconsole.commands.prune import run_prune

        return run_prune(args, settings)
    if args.command == "coverage":
        from lakeconsole.commands.coverage import run_coverage

        return run_coverage(args, settings)
    if args.command == "iceberg":
        from lakeconsole.commands.iceberg import run_iceberg

        return run_iceberg(args, settings)
    if args.processes > 1 and not args.headless:
        raise ConfigError("--processes needs --headless")
    if args.headless and args.processes > 1 and args.child is None:
        from lakeconsole.supervisor import run_supervised

        return run_supervised(args, settings)
    if args.headless:
        from lakeconsole.headless import run_headless

        return run_headless(settings, demo=args.demo, log_format=args.log_format,
                            log_level=args.log_level, child=args.child)
    from lakeconsole.tui.app import run_console

    return run_console(settings, demo=args.demo)
