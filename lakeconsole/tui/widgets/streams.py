"""The Health tab's stream panel: stream state and limits, consumers, warnings, losses."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lakeconsole import events as ev
from lakeconsole.tui.format import clock_time, human_age, human_bytes, human_count
from lakeconsole.tui.health_model import WARN_FULL, Fullness, HealthSnapshot, fullness

LOSSES_SHOWN = 3


def limit_text(full: Fullness, colours: Mapping[str, str]) -> Text:
    """`80% of 1.5k` coloured by how full: warning past half, error past WARN_FULL."""
    size = human_bytes if full.limit == "bytes" else human_count
    variable = "error" if full.ratio > WARN_FULL else "warning" if full.ratio > 0.5 else ""
    return Text(f"{full.ratio:.0%} of {size(full.maximum)}", style=colours.get(variable, ""))


def age_text(seconds: float) -> str:
    """A max-age limit: `7d`, `36h`, `90s`; `none` for 0."""
    if seconds <= 0:
        return "none"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return human_age(seconds)


def streams_table(snap: HealthSnapshot, colours: Mapping[str, str]) -> Table:
    """One row per stream: messages, bytes, sequences and each limit with its fullness."""
    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for name in ("stream", "msgs", "bytes", "seq first-last", "max msgs", "max bytes",
                 "max age"):
        table.add_column(name, no_wrap=True, justify="left" if name == "stream" else "right")
    for s in snap.streams:
        limits = {f.limit: limit_text(f, colours) for f in fullness(s)}
        table.add_row(s.stream, human_count(s.messages), human_bytes(s.bytes),
                      f"{s.first_seq:,}-{s.last_seq:,}", limits.get("msgs", Text("none")),
                      limits.get("bytes", Text("none")),
                      age_text(s.max_age_s))
    return table


def consumers_table(snap: HealthSnapshot) -> Table:
    """One row per consumer: backlog, in flight, redelivered, ack floor."""
    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for name in ("consumer", "stream", "pending", "ack pending", "redelivered", "ack floor"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("consumer", "stream")
                         else "right")
    for c in snap.consumers:
        floor = getattr(c, "ack_floor", None)  # when the service reports it
        table.add_row(c.consumer, snap.stream_of.get(c.consumer, "?"), f"{c.num_pending:,}",
                      f"{c.num_ack_pending:,}", f"{c.num_redelivered:,}",
                      f"{floor:,}" if isinstance(floor, int) else "-")
    return table


def loss_line(loss: ev.UpstreamLoss, local: bool = False) -> str:
    """`12:00:01 upstream loss on MARKET: seq 101-150 (50 messages): cause`."""
    return (f"{clock_time(loss.at, local)} upstream loss on {loss.stream}: seq "
            f"{loss.first_seq:,}-{loss.last_seq:,} ({loss.count:,} messages): {loss.cause}")


def streams_view(snap: HealthSnapshot, colours: Mapping[str, str],
                 local: bool = False) -> RenderableType:
    """Warnings and the latest losses first (the panel may be cut), then the tables."""
    parts: list[RenderableType] = []
    for warning in snap.warnings():
        parts.append(Text(f"⚠ {warning}", style=f"bold {colours.get('warning', '')}".strip()))
    for loss in snap.losses[-LOSSES_SHOWN:]:
        parts.append(Text(loss_line(loss, local), style=f"bold {colours.get('error', '')}".strip()))
    if not snap.streams and not snap.consumers:
        parts.append(Text("no stream or consumer state yet (it comes from the service)",
                          style="dim"))
    if snap.streams:
        parts.append(streams_table(snap, colours))
    if snap.consumers:
        parts.append(consumers_table(snap))
    return Group(*parts)
