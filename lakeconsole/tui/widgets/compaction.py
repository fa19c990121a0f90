"""The compaction panel: date / dataset / partition inputs, progress and results."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, ProgressBar, RichLog

from lakeconsole.contract.schemas import bronze_datasets
from lakeconsole.events import CompactionQueue
from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.format import human_bytes, human_count
from lakeconsole.tui.model import CompactionState
from lakeconsole.tui.widgets.keybutton import KeyButton


def format_result(result: CompactionResult) -> Text:
    """One compaction result as a log line."""
    status: str = result.status
    if result.unchanged:
        status += " (unchanged)"
    style = {"ok": "green", "empty": "dim", "failed": "bold red"}.get(status.split()[0], "yellow")
    text = Text(f"{result.key}  ")
    text.append(status, style=style)
    text.append(f"  read {human_count(result.rows_read)}"
                f"  written {human_count(result.rows_written)}"
                f"  dups {human_count(result.duplicates_removed)}")
    if result.status == "ok" and not result.unchanged:
        text.append(f"  files {result.files_written}  {human_bytes(result.bytes_written)}")
    if result.seconds:
        text.append(f"  {result.seconds:.2f}s")
    if result.error:
        text.append(f"  {result.error}", style="red")
    return text


def format_queue(queue: CompactionQueue | None, auto: bool) -> Text:
    """`auto: 2 queued, 1 running, 40 done, 1 failed — last failure: key: reason`."""
    name = "automatic compaction" if auto else "compaction queue"
    if queue is None:
        return Text(f"{name}: {'waiting for the first plan' if auto else 'off'}", style="dim")
    text = Text(f"{name} ({queue.source}): {queue.queued} queued, {queue.running} running, "
                f"{queue.done} done, ")
    text.append(f"{queue.failed} failed", style="bold red" if queue.failed else "")
    if queue.last_failure:
        text.append(f"  last failure: {queue.last_failure}", style="red")
    return text


class CompactionPanel(Vertical):
    """Inputs for one compaction, its progress bar and its result lines."""

    def __init__(self, today: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.today = today  # the date field's first value: Bronze is written to today

    def compose(self) -> ComposeResult:
        """Three inputs, three buttons, a progress bar and the results."""
        with Horizontal(classes="form"):
            yield Input(self.today, placeholder="date YYYY-MM-DD", id="compact-date")
            yield Input(placeholder="dataset (all)", id="compact-dataset",
                        suggester=SuggestFromList([d.name for d in bronze_datasets()]))
            yield Input(placeholder="partition value (all)", id="compact-partition")
        with Horizontal(classes="buttons"):
            # KeyButton: the label shows the key literally ("[k]" is not markup), remapped too.
            yield KeyButton("Compact", "compact", id="compact-run")
            yield KeyButton("All schemas for date", "compact_all", id="compact-all")
            yield KeyButton("Cancel", "cancel_compaction", id="compact-cancel", variant="error")
        # A total from the start: with none, Textual animates an indeterminate bar while idle.
        yield ProgressBar(total=1, show_eta=False, id="compact-progress")
        yield Label("idle", id="compact-status")
        yield Label("automatic compaction: off", id="compact-queue")
        yield RichLog(id="compact-results", wrap=False, markup=False, max_lines=5000)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in an input runs the compaction."""
        event.stop()
        await self.app.run_action("app.compact")

    def values(self) -> tuple[str, str | None, str | None]:
        """(date, dataset or None, partition or None) as typed."""
        get = self.query_one
        date = get("#compact-date", Input).value.strip()
        dataset = get("#compact-dataset", Input).value.strip() or None
        partition = get("#compact-partition", Input).value.strip() or None
        return date, dataset, partition

    def fill(self, date: str | None, dataset: str | None, value: str | None) -> None:
        """Set the inputs from a tree selection (only the parts the node knows)."""
        if date:
            self.query_one("#compact-date", Input).value = date
        self.query_one("#compact-dataset", Input).value = dataset or ""
        self.query_one("#compact-partition", Input).value = value or ""

    def started(self, what: str) -> None:
        """A run began: reset the bar and say what runs."""
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#compact-status", Label).update(f"compacting {what} …")

    def show_progress(self, state: CompactionState) -> None:
        """Progress from CompactionProgress events: partitions done and Bronze rows read."""
        if state.total:
            self.query_one(ProgressBar).update(total=state.total, progress=state.done)
            self.query_one("#compact-status", Label).update(
                f"{state.done}/{state.total} partitions  {human_count(state.rows_read)} rows "
                f"read  {state.current}")

    def show_results(self, results: list[CompactionResult], seconds: float) -> None:
        """The results of a finished run."""
        log = self.query_one(RichLog)
        for result in results:
            log.write(format_result(result))
        rows = sum(r.rows_written for r in results)
        bar = self.query_one(ProgressBar)
        bar.update(total=max(len(results), 1), progress=max(len(results), 1))
        self.query_one("#compact-status", Label).update(
            f"done: {len(results)} partitions, {human_count(rows)} rows in {seconds:.2f}s")

    def show_queue(self, queue: CompactionQueue | None, auto: bool) -> None:
        """The automatic/queued compaction counts (queued, running, done, failed)."""
        self.query_one("#compact-queue", Label).update(format_queue(queue, auto))

    def show_background(self, results: list[tuple[str, CompactionResult]]) -> None:
        """Results of automatic compactions and of workers, with where they ran."""
        log = self.query_one(RichLog)
        for source, result in results:
            line = format_result(result)
            line.append(f"  [{source}]", style="dim")
            log.write(line)

    def show_error(self, message: str) -> None:
        """A run failed or was refused."""
        self.query_one("#compact-status", Label).update(Text(message, style="bold red"))
        self.query_one(ProgressBar).update(total=1, progress=0)
