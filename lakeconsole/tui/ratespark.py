"""Per-dataset ingest-rate sparklines as text: time buckets over the last minute, a scale.

Pure functions (no textual, no I/O). Samples arrive at the UI's refresh rate, so they are
put into equal time buckets (one per character) over a fixed window: the axis reads
"-60s … now" whatever refresh_hz is. Each line is scaled to its own maximum, which the line
prints ("max 2.1k/s"): a 40 events/s dataset is as readable as a 2,000 events/s one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lakeconsole.tui.format import human_rate

WINDOW_S = 60.0
BLOCKS = " ▁▂▃▄▅▆▇█"
NAME_WIDTH = 14
SCALE_WIDTH = 12  # " max 12.3k/s" right-aligned
MIN_SPARK = 8

Samples = Sequence[tuple[float, dict[str, float]]]


def buckets(samples: Samples, name: str, now: float, width: int,
            window_s: float = WINDOW_S) -> list[float | None]:
    """The highest rate of `name` in each of `width` equal time buckets ending at `now`.

    None before the first sample (the console had not started) and after the last.
    """
    out: list[float | None] = [None] * width
    start = now - window_s
    for at, rates in samples:
        if at <= start or at > now or name not in rates:
            continue
        index = min(width - 1, int((at - start) / window_s * width))
        value = rates[name]
        current = out[index]
        out[index] = value if current is None else max(current, value)
    # Samples come at the UI's pace, not the bucket's: a bucket between two samples
    # carries the earlier one. Only buckets before the first sample stay empty.
    last = max((i for i, v in enumerate(out) if v is not None), default=-1)
    for index in range(1, last):
        if out[index] is None:
            out[index] = out[index - 1]
    return out


def spark(values: list[float | None], top: float) -> str:
    """Block characters scaled to `top`; a blank where there is no sample."""
    if top <= 0:
        return "".join(" " if v is None else BLOCKS[1] for v in values)
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        else:
            level = math.ceil(max(value, 0.0) / top * (len(BLOCKS) - 1))
            chars.append(BLOCKS[max(1, min(level, len(BLOCKS) - 1))])
    return "".join(chars)


def rate_line(name: str, values: list[float | None], width: int) -> str:
    """`stocks.trades  ▂▃▅▇█▆▅  max 2.1k/s`, cut to `width` cells."""
    top = max((v for v in values if v is not None), default=0.0)
    scale = f"max {human_rate(top)}".rjust(SCALE_WIDTH)
    return f"{name[:NAME_WIDTH]:<{NAME_WIDTH}} {spark(values, top)}{scale}"[:width]


def spark_width(cell: int) -> int:
    """Characters of sparkline in a cell `cell` wide (after the name and the scale)."""
    return max(MIN_SPARK, cell - NAME_WIDTH - 1 - SCALE_WIDTH)


def axis_line(cell: int, window_s: float = WINDOW_S) -> str:
    """`-60s … -30s … now` under the sparkline part of a cell."""
    width = spark_width(cell)
    left, middle, right = f"-{window_s:g}s", f"-{window_s / 2:g}s", "now"
    line = [" "] * width
    for text, at in ((left, 0), (middle, (width - len(middle)) // 2),
                     (right, width - len(right))):
        line[at:at + len(text)] = list(text)
    return " " * (NAME_WIDTH + 1) + "".join(line[:width])


def layout(count: int, width: int, height: int) -> tuple[int, bool]:
    """(columns, whether an axis row fits) for `count` lines in width x height cells."""
    columns = 1
    while columns < count and math.ceil(count / columns) > max(height, 1):
        columns += 1
    rows = math.ceil(count / columns)
    while columns > 1 and width // columns - 2 - NAME_WIDTH - 1 - SCALE_WIDTH < MIN_SPARK:
        columns -= 1  # too narrow: fewer columns (rows past the height are cut)
        rows = math.ceil(count / columns)
    return columns, rows < height


def render(samples: Samples, names: list[str], now: float, width: int,
           height: int) -> list[str]:
    """The sparkline block: lines of `columns` datasets each, then the axis if it fits."""
    columns, with_axis = layout(len(names), width, height)
    cell = width // columns if columns > 1 else width
    inner = cell - 2 if columns > 1 else cell  # two spaces between columns
    lines = []
    for row_start in range(0, len(names), columns):
        parts = [rate_line(n, buckets(samples, n, now, spark_width(inner)), inner).ljust(inner)
                 for n in names[row_start:row_start + columns]]
        lines.append("  ".join(parts).rstrip())
    if with_axis:
        lines.append("  ".join([axis_line(inner)] * columns).rstrip())
    return lines
