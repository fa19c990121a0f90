"""LakeConsoleApp: a thin Textual shell around the Service; all I/O runs in workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from textual import work
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import (
    Button,
    Header,
    Input,
    Label,
    TabbedContent,
    TabPane,
    TextArea,
    Tree,
)
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from lakeconsole.config import Settings
from lakeconsole.errors import QueryError
from lakeconsole.events import ErrorRaised
from lakeconsole.query.catalog import CatalogNode
from lakeconsole.tui import keys
from lakeconsole.tui.failures import one_line, where_of
from lakeconsole.tui.format import utc_day, zone_label
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.palette import LakeCommands
from lakeconsole.tui.screens.help import HelpScreen
from lakeconsole.tui.tableview import display_table
from lakeconsole.tui.themes import load_themes
from lakeconsole.tui.widgets.compaction import CompactionPanel
from lakeconsole.tui.widgets.dashboard import DatasetTable, RatePanel, StatusLine
from lakeconsole.tui.widgets.file_detail import FileDetailPane
from lakeconsole.tui.widgets.flushlog import FlushLog
from lakeconsole.tui.widgets.footer import FittedFooter
from lakeconsole.tui.widgets.health import HealthPanel
from lakeconsole.tui.widgets.partitions import PartitionBrowser, PartitionTree
from lakeconsole.tui.widgets.quarantine import QuarantinePanel
from lakeconsole.tui.widgets.query import QueryPanel, ReaderRequest, SqlRequest

if TYPE_CHECKING:
    from lakeconsole.service import Service
    from lakeconsole.silver.result import CompactionResult

TABS = ("dashboard", "partitions", "compact", "query", "health", "quarantine")
TREE_REFRESH_S = 3.0
START_GRACE_S = 2.0
HANGUP_MARGIN_S = 15.0  # after service.stop_grace_s, before a hung-up console gives up


class LakeConsoleApp(App[int]):
    """The console: dashboard, flush log, partition tree, compaction and query panels."""

    CSS_PATH = "lakeconsole.tcss"
    TITLE = "lakeconsole"
    BINDINGS = keys.bindings()
    COMMANDS = App.COMMANDS | {LakeCommands}
    AUTO_FOCUS = "#flush-log"  # the dashboard's main widget, as the `1` key focuses it
    # Screen classes for lakeconsole.tcss: below 120 columns the forms take two rows.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    # Below 40 rows the rate sparkline shrinks so the flush log keeps a few lines.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    def __init__(
        self,
        service: Service | None,
        *,
        settings: Settings | None = None,
        model: ConsoleModel | None = None,
        clock: Callable[[], float] = time.time,
        theme_dirs: list[Path] | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.settings = service.settings if service is not None else (settings or Settings())
        nats = self.settings.nats
        self.model = model or ConsoleModel({nats.bronze_consumer: "bronze",
                                            nats.gold_consumer: "gold"})
        self.clock = clock
        self.theme_dirs = theme_dirs
        self.export_dir = export_dir or Path.cwd() / "exports"
        # Checked here, not on mount: widgets that show a key (buttons) compose before that.
        self.keymap_overrides, keymap_warnings = keys.check_keymap(
            dict(self.settings.console.keys))
        self.keymap_effective = {a.id: a.keys for a in keys.ACTIONS} | self.keymap_overrides
        self.local_time = self.settings.console.local_time
        self.cancel_event: threading.Event | None = None  # set while a compaction runs
        self.busy = ""
        self.last_export: Path | None = None
        self.warnings: list[str] = []
        self._pending_warnings = keymap_warnings
        self._unsubscribe: Callable[[], None] | None = None
        self._start_worker: Worker[None] | None = None
        self._stopping = False
        self._tree_seen = 0
        self._tree_refreshed = 0.0

    @property
    def compacting(self) -> bool:
        """Whether a compaction is running."""
        return self.cancel_event is not None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Header, four tabs, status line, footer."""
        yield Header()
        with TabbedContent(id="tabs", initial="dashboard"):
            with TabPane("1 Dashboard", id="dashboard"):
                yield DatasetTable(id="datasets")
                yield RatePanel(id="rate")
                yield FlushLog(id="flush-log")
            with TabPane("2 Partitions", id="partitions"):
                loader = self.service.catalog if self.service is not None else None
                describer = self.service.describe_file if self.service is not None else None
                # With Iceberg on, enter on a Silver or Gold dataset shows its table's snapshots.
                historian = (self.service.iceberg_history if self.service is not None
                             and self.settings.iceberg.enabled else None)
                yield PartitionBrowser(loader, describer, historian, id="browser")
                yield Label("enter: fill Compact and Query   ←/→: close/open   esc: up   "
                            "r: refresh", id="tree-hint", markup=False)
            with TabPane("3 Compact", id="compact"):
                yield CompactionPanel(utc_day(self.clock()), id="compaction")
            with TabPane("4 Query", id="query"):
                yield QueryPanel(utc_day(self.clock()), id="query-panel")
            with TabPane("5 Health", id="health"):
                coverage = self.service.coverage if self.service is not None else None
                yield HealthPanel(coverage, self.clock, id="health-panel")
            with TabPane("6 Quarantine", id="quarantine"):
                service = self.service
                yield QuarantinePanel(service.quarantine if service else None,
                                      service.replay if service else None, id="quarantine-panel")
        yield StatusLine(id="status")
        yield FittedFooter()

    def on_mount(self) -> None:
        """Themes, keymap, time zone, the refresh timer, and the service in a worker."""
        self._load_themes()
        self._apply_keymap()
        self.query_one(DatasetTable).border_title = "datasets"
        self.set_local_time(self.local_time, announce=False)
        self.set_interval(1 / self.settings.console.refresh_hz, self.tick)
        self.tick()
        if self.service is not None:
            self._unsubscribe = self.service.subscribe(self.model.apply)
            self._start_worker = self.run_worker(self._start_service(), group="service",
                                                 exit_on_error=False)

    def _load_themes(self) -> None:
        themes, warnings = load_themes(self.theme_dirs)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.settings.console.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            warnings.append(f"theme {wanted!r} not found; using {self.theme}")
        for warning in warnings:
            self._warn(warning)

    def _warn(self, message: str) -> None:
        """A start-up problem that does not stop the console."""
        self.warnings.append(message)
        self.notify(message, severity="warning", timeout=10)

    def report_error(self, where: str, message: str) -> str:
        """An error for the status line and a notification (at the next tick); any thread."""
        self.model.apply(ErrorRaised(where, message))
        return message

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The last net: a worker that raised anyway is reported, never fatal."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.report_error(where_of(worker.group), one_line(worker.error))

    def on_partition_tree_load_failed(self, event: PartitionTree.LoadFailed) -> None:
        """The tree could not list a level of the lake."""
        self.report_error("partitions", event.message)

    def _apply_keymap(self) -> None:
        for warning in self._pending_warnings:
            self._warn(warning)
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)

    async def _start_service(self) -> None:
        assert self.service is not None
        self.busy = "starting service …"
        try:
            await self.service.start()
        except Exception as exc:  # any start failure is shown, the console stays up
            self.model.apply(ErrorRaised("start", _message(exc)))
        finally:
            self.busy = ""

    # -- the refresh tick --------------------------------------------------------------

    def tick(self) -> None:
        """Redraw everything from the model, at settings.console.refresh_hz."""
        with contextlib.suppress(NoMatches):  # shutting down: the widgets are already gone
            self._redraw()

    def _redraw(self) -> None:
        now = self.clock()
        model = self.model
        model.sample(now)
        self.query_one(DatasetTable).show(model.rows(), now, model.consumer_rows())
        self.query_one(RatePanel).show(list(model.history), model.rates(), list(model.datasets),
                                       now)
        self.query_one(FlushLog).add(model.drain_log())
        for message in model.drain_errors()[-3:]:
            self.notify(message, title="error", severity="error", timeout=10)
        self._show_status()
        self._show_health()
        if self.compacting:
            state = model.compaction_state()
            self.query_one(CompactionPanel).show_progress(state)
        panel = self.query_one(CompactionPanel)
        panel.show_queue(model.queue, self.settings.silver.auto)
        panel.show_background(model.drain_background())
        self._maybe_refresh_tree(now)

    def _show_status(self) -> None:
        if self.service is not None:
            backend, root = self.service.storage.backend, self.service.storage.url
        else:
            backend = "s3" if self.settings.storage.is_s3 else "local"
            root = self.settings.storage.url
        m = self.model
        self.query_one(StatusLine).show(m.connection, m.connection_detail, backend, root,
                                        m.errors, m.last_error, self.busy)

    def _show_health(self) -> None:
        """The Health tab's stream panel; an upstream loss is also a red notification."""
        panel = self.query_one(HealthPanel)
        panel.local_time = self.local_time
        panel.show_state(self.model.health.snapshot())
        if self.query_one(TabbedContent).active == "health":
            panel.maybe_reload(self.clock())
        for loss in self.model.health.drain_losses()[-3:]:
            self.notify(f"{loss.stream}: {loss.count:,} messages lost upstream (seq "
                        f"{loss.first_seq:,}-{loss.last_seq:,}, {loss.cause})",
                        title="upstream loss", severity="error", timeout=15)

    def _maybe_refresh_tree(self, now: float) -> None:
        """Reload open tree nodes after new flushes, at most every TREE_REFRESH_S."""
        if self.model.flush_count == self._tree_seen or now - self._tree_refreshed < TREE_REFRESH_S:
            return
        if self.query_one(TabbedContent).active != "partitions":
            return  # stays stale until the tree is visible again
        self._tree_seen = self.model.flush_count
        self._tree_refreshed = now
        self.query_one(PartitionTree).reload()

    # -- navigation ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Panel actions are live (and in the footer) only on their tab."""
        scope = _SCOPES.get(action)
        if scope is None:
            return True
        return self.query_one(TabbedContent).active == scope

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Footer bindings follow the active tab; a stale tree refreshes when shown."""
        self.refresh_bindings()
        self._maybe_refresh_tree(self.clock())

    def action_show_tab(self, tab: str) -> None:
        """Switch to a tab and put the focus on its main widget (unless it is already inside)."""
        tabs = self.query_one(TabbedContent)
        focused = self.focused
        pane = self.query_one(f"#{tab}", TabPane)
        if tabs.active == tab and focused is not None and pane in focused.ancestors:
            return
        if focused is not None:
            # A focused widget in the old pane would pull its tab back (TabPane.Focused).
            self.set_focus(None)
        tabs.active = tab
        # After the refresh: the pane becomes visible first, and hidden widgets take no focus.
        self.call_after_refresh(self._focus_main, tab)

    def _focus_main(self, tab: str) -> None:
        if self.query_one(TabbedContent).active != tab:
            return
        focused = self.focused
        pane = self.query_one(f"#{tab}", TabPane)
        if focused is not None and pane in focused.ancestors:
            return  # the action that switched tab focused something there (e.g. `/`)
        self.set_focus(self.main_widget(tab))

    def main_widget(self, tab: str) -> Widget | None:
        """What a tab key focuses: the flush log, the tree, the Compact button, the result.

        Never a text field: there the next digit would be typed instead of switching tabs.
        """
        if tab == "partitions":
            return self.query_one(PartitionTree)
        if tab == "compact":
            return self.query_one("#compact-run", Button)
        if tab == "query":
            return self.query_one(QueryPanel).table  # None before the first result
        if tab == "health":
            return self.query_one(HealthPanel).heatmap
        if tab == "quarantine":
            return self.query_one(QuarantinePanel).table
        return self.query_one(FlushLog)

    def action_help(self) -> None:
        """Show the key bindings."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap_effective))

    async def action_back(self) -> None:
        """Leave a text field; otherwise (a tab's top level) go back to the dashboard.

        The tree handles escape itself below its root (up one level) and lets it through here.
        """
        if isinstance(self.focused, (Input, TextArea)):
            self.set_focus(None)
        else:
            self.action_show_tab("dashboard")

    def action_toggle_local_time(self) -> None:
        """Show times in local time or in UTC."""
        self.set_local_time(not self.local_time)

    def set_local_time(self, local: bool, announce: bool = True) -> None:
        """Times in local time (or UTC) everywhere; the header says which."""
        self.local_time = local
        zone = zone_label(local)
        self.sub_title = f"times in {zone}"
        self.query_one(FlushLog).set_local_time(local)
        self.query_one(FileDetailPane).set_local_time(local)
        self.query_one(QuarantinePanel).set_local_time(local)
        self.query_one(FlushLog).border_title = f"flushes, quarantines, errors ({zone})"
        panel = self.query_one(QueryPanel)
        panel.local_time = local
        if panel.result is not None:
            self._redisplay(panel.result, local)
        if announce:
            self.notify(f"times in {zone}", timeout=3)

    def action_refresh_quarantine(self) -> None:
        """Reload the quarantine counts and entries."""
        self.query_one(QuarantinePanel).load()

    def action_replay(self) -> None:
        """Replay the marked quarantine entries (or the cursor's), after a confirm."""
        self.query_one(QuarantinePanel).request_replay()

    def action_refresh_tree(self) -> None:
        """Reload the partition tree."""
        self.query_one(PartitionTree).reload()
        self.notify("refreshing partitions", timeout=2)

    def action_focus_query(self) -> None:
        """Switch to the query tab and focus the SQL editor."""
        self.action_show_tab("query")
        self.query_one(QueryPanel).focus_sql()

    def on_tree_node_selected(self, event: Tree.NodeSelected[CatalogNode | None]) -> None:
        """A tree selection fills the compaction and query inputs."""
        node = event.node.data
        if node is None:
            return
        tier = node.tier if node.tier != "quarantine" else None
        self.query_one(CompactionPanel).fill(node.date, node.dataset, node.value)
        self.query_one(QueryPanel).fill(tier, node.dataset, node.value, node.date)
        what = " ".join(x for x in (node.dataset, node.value, node.date) if x) or node.name
        self.notify(f"filled Compact and Query: {what}", timeout=4)

    # -- quit ----------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Flush every buffer (Service.stop), then exit."""
        if self._stopping:
            return
        self._stopping = True
        if self.cancel_event is not None:
            self.cancel_event.set()
        self.busy = "flushing buffers before exit …"
        self._show_status()
        self.run_worker(self._stop_and_exit(), group="quit", exit_on_error=False)

    def exit_now(self) -> None:
        """Exit at once, the service still running (run_console stops it); a quit finishes."""
        if not self._stopping:
            self._stopping = True
            if self.cancel_event is not None:
                self.cancel_event.set()
            self.exit(0)

    async def _stop_and_exit(self) -> None:
        code = 0
        starting = self._start_worker
        if starting is not None and starting.state == WorkerState.RUNNING:
            # Let a start in progress finish, but not forever: with NATS unreachable the
            # connect retries until cancelled, and quitting must still work.
            try:
                await asyncio.wait_for(starting.wait(), START_GRACE_S)
            except (TimeoutError, WorkerFailed, WorkerCancelled):
                starting.cancel()
        if self.service is not None:
            try:
                await self.service.stop()
            except Exception as exc:  # report, still exit
                code = 1
                self.notify(f"stop failed: {one_line(exc)}", severity="error")
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.exit(code, return_code=code)

    # -- compaction ----------------------------------------------------------------------

    def action_compact(self) -> None:
        """Compact the date / dataset / partition from the panel."""
        self._compact(all_schemas=False)

    def action_compact_all(self) -> None:
        """Compact every dataset and partition of the panel's date."""
        self._compact(all_schemas=True)

    def action_cancel_compaction(self) -> None:
        """Ask the running compaction to stop after the current partition."""
        if self.cancel_event is None:
            self.notify("no compaction is running", timeout=3)
            return
        self.cancel_event.set()
        self.notify("cancelling compaction …", timeout=3)

    def _compact(self, all_schemas: bool) -> None:
        self.action_show_tab("compact")
        panel = self.query_one(CompactionPanel)
        date, dataset, partition = panel.values()
        if not date:
            panel.show_error("enter a date (YYYY-MM-DD) or pick one in the partition tree")
            self.query_one("#compact-date", Input).focus()
            return
        if self.service is None:
            panel.show_error("no service")
            return
        if self.compacting:
            self.notify("a compaction is already running", severity="warning")
            return
        if all_schemas:
            dataset = partition = None
        self.cancel_event = threading.Event()
        self.model.reset_compaction()
        panel.started(" / ".join(x for x in (date, dataset or "all", partition or "all")))
        self._run_compaction(date, dataset, partition, self.cancel_event)

    @work(thread=True, group="compact", exit_on_error=False)
    def _run_compaction(self, date: str, dataset: str | None, partition: str | None,
                        cancel: threading.Event) -> None:
        assert self.service is not None
        started = time.perf_counter()
        try:
            results = self.service.compact(date, dataset, partition, cancel)
        except Exception as exc:  # shown in the panel; the console stays up
            self.call_from_thread(self._compaction_failed, _message(exc))
            return
        self.call_from_thread(self._compaction_done, results, time.perf_counter() - started)

    def _compaction_done(self, results: list[CompactionResult], seconds: float) -> None:
        self.cancel_event = None
        self.query_one(CompactionPanel).show_results(results, seconds)
        failed = [r for r in results if r.status == "failed"]
        if failed:  # the panel lists each; the status line gets the first cause
            first = failed[0]
            self.report_error("compaction", f"{len(failed)} of {len(results)} failed; "
                                            f"{first.key}: {first.error}")
        self._tree_seen = -1  # new Silver files: refresh the tree on the next tick
        self._tree_refreshed = 0.0

    def _compaction_failed(self, message: str) -> None:
        self.cancel_event = None
        self.query_one(CompactionPanel).show_error(message)
        self.report_error("compaction", message)

    # -- queries -------------------------------------------------------------------------

    def action_query_mode(self) -> None:
        """Toggle the reader form and the SQL editor, with the cursor in the one shown."""
        self.action_show_tab("query")
        panel = self.query_one(QueryPanel)
        panel.set_mode("reader" if panel.mode == "sql" else "sql")
        # After the refresh: the switched-in widgets are hidden until then and take no focus.
        self.call_after_refresh(panel.focus_mode)

    def action_run_query(self) -> None:
        """Run the reader form or the SQL in a thread worker."""
        self.action_show_tab("query")
        panel = self.query_one(QueryPanel)
        try:
            request = panel.request()
        except ValueError as exc:
            panel.show_error(str(exc))
            return
        as_of = isinstance(request, ReaderRequest) and request.as_of
        if as_of and not self.settings.iceberg.enabled:
            panel.show_error("as of: Iceberg is off; set [iceberg] enabled = true to read "
                             "Silver or Gold as of a snapshot")
            return
        if self.service is None:
            panel.show_error("no service")
            return
        panel.running("SQL" if isinstance(request, SqlRequest)
                      else f"read {request.as_of_label(self.local_time)}".rstrip())
        panel.remember(request)
        self._run_query(request)

    @work(thread=True, group="query", exclusive=True, exit_on_error=False)
    def _run_query(self, request: ReaderRequest | SqlRequest) -> None:
        assert self.service is not None
        started = time.perf_counter()
        local = self.local_time
        note = ""
        try:
            if isinstance(request, SqlRequest):
                table = self.service.sql(request.sql)
                truncated = (table.schema.metadata or {}).get(b"lakeconsole.truncated") == b"true"
            else:
                table = self.service.read(request.tier, request.dataset, request.partition,
                                          request.date, request.start_ns, request.end_ns,
                                          as_of_snapshot=request.as_of_snapshot,
                                          as_of_ns=request.as_of_ns)
                truncated = False
                note = request.as_of_label(local)
            seconds = time.perf_counter() - started
            display = display_table(table, local)  # up to 100k rows: formatted off the UI
        except Exception as exc:  # shown in the panel; the lake's failures in the status too
            if not isinstance(exc, QueryError):  # a typo in the SQL is not the lake's fault
                self.report_error("query", _message(exc))
            # The panel shows the whole text (DuckDB's "Did you mean …") and drops the result.
            self.call_from_thread(self.query_one(QueryPanel).show_failure,  # type: ignore[arg-type]
                                  exc)
            return
        self.call_from_thread(self._show_query, table, display, local, seconds,  # type: ignore[arg-type]
                              truncated, note)

    async def _show_query(self, table: pa.Table, display: pa.Table, local: bool,
                          seconds: float, truncated: bool, note: str = "") -> None:
        await self.query_one(QueryPanel).show_result(table, seconds, truncated, display, note)
        if local != self.local_time:  # toggled while the query ran
            self._redisplay(table, self.local_time)

    @work(thread=True, group="display", exclusive=True, exit_on_error=False)
    def _redisplay(self, table: pa.Table, local: bool) -> None:
        display = display_table(table, local)
        self.call_from_thread(self._show_display, table, display)  # type: ignore[arg-type]

    async def _show_display(self, table: pa.Table, display: pa.Table) -> None:
        panel = self.query_one(QueryPanel)
        if panel.result is table:  # not replaced by a newer result meanwhile
            await panel.show_display(display)

    def action_chart(self) -> None:
        """Chart the current result over event time (a full-screen plot; esc closes it)."""
        from lakeconsole.tui.chartdata import chart_data  # plotext: only once a chart opens
        from lakeconsole.tui.screens.chart import ChartScreen

        if self.query_one(TabbedContent).active != "query":
            self.action_show_tab("query")  # from the palette
        table = self.query_one(QueryPanel).result
        if table is None:
            self.notify("run a query first", severity="warning")
            return
        data = chart_data(table, max(self.size.width - 12, 20), self.local_time)
        if data.problem:
            self.notify(data.problem, severity="warning")
            return
        if self.focused is None:
            # Back from the chart, Textual focuses AUTO_FOCUS (the dashboard's log) and
            # that would switch the tab: leave the focus on the result instead.
            self.set_focus(self.main_widget("query"))
        # After the tab switch's focus change: a focus set later would stay on the tab.
        self.call_after_refresh(self.push_screen, ChartScreen(data, zone_label(self.local_time)))

    def action_export(self, fmt: str) -> None:
        """Write the current result to CSV or Parquet under the export folder."""
        table = self.query_one(QueryPanel).result
        if table is None:
            self.notify("run a query first", severity="warning")
            return
        self._export(table, fmt)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, table: pa.Table, fmt: str) -> None:
        try:
            assert self.service is not None  # results only exist with a service
            path = self.service.export(table, self.export_dir, fmt)
        except Exception as exc:  # a full disk, a bad folder, Arrow: shown, never fatal
            self.report_error("export", _message(exc))
            return
        self.last_export = path
        self.call_from_thread(self.notify, f"exported {table.num_rows:,} rows to {path}",
                              title="export", timeout=10)


_SCOPES = {a.action.split("(")[0]: a.scope for a in keys.ACTIONS if a.scope != "global"}


def _message(exc: BaseException) -> str:
    return one_line(exc)


def run_console(settings: Settings, demo: bool = False) -> int:
    """Run the console on a Service built from `settings`; returns the exit code."""
    from lakeconsole.ops.serve import serve_configured
    from lakeconsole.service import Service

    service = Service(settings, demo=demo)
    ops = serve_configured(service, settings, default="off")  # only when asked for
    try:
        return asyncio.run(_run_until_stopped(LakeConsoleApp(service)))
    finally:
        if ops is not None:
            ops.stop()


async def _run_until_stopped(app: LakeConsoleApp) -> int:
    """Run the app; however it ends (quit, crash, SIGHUP, SIGTERM), stop the service after."""
    loop = asyncio.get_running_loop()
    # A plain handler, not loop.add_signal_handler: it must run before Textual's SIGCONT
    # handler (the kernel sends SIGCONT with SIGHUP), which would redraw on the dead terminal.
    signal.signal(signal.SIGHUP, lambda _sig, _frame: _hang_up(app, loop))
    loop.add_signal_handler(signal.SIGTERM, app.exit_now)
    try:
        await app.run_async()
    finally:
        # After a quit this is a no-op; otherwise it flushes, acks and stops the embedded
        # server here, on the loop the service runs on, with no terminal involved.
        unwritten = await app.service.stop() if app.service is not None else 0
    return app.return_code or (1 if unwritten else 0)


def _hang_up(app: LakeConsoleApp, loop: asyncio.AbstractEventLoop) -> None:
    """SIGHUP, the terminal closed: write to /dev/null from now on, and exit."""
    # Writes to a hung-up terminal fail (EIO): Textual's writer thread would die, the app
    # block on its full queue, and the service never stop.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGCONT, signal.SIG_DFL)  # no "resume" onto a terminal that is gone
    grace = app.settings.service.stop_grace_s + HANGUP_MARGIN_S
    threading.Thread(target=_exit_if_stuck, args=(app, grace), name="hang-up watchdog",
                     daemon=True).start()
    loop.call_soon_threadsafe(app.exit_now)


def _exit_if_stuck(app: LakeConsoleApp, grace: float) -> None:
    """Last resort after SIGHUP: if the process is still here after `grace`, it is stuck on
    the dead terminal (a write that failed before the redirect); stop the server and exit."""
    time.sleep(grace)
    if app.service is not None and app.service.embedded is not None:
        app.service.embedded.stop()  # unacked messages are redelivered: nothing is lost
    os._exit(1)
