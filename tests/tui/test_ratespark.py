"""Per-dataset rate sparklines: time buckets over the last minute, a scale, an axis."""

from __future__ import annotations

from lakeconsole.tui.ratespark import axis_line, buckets, layout, rate_line, render, spark

NOW = 1_000.0


def test_buckets_cover_the_last_minute_by_time_not_by_sample() -> None:
    """A sample lands in the bucket of its time; gaps between samples carry the earlier one."""
    samples = [(NOW - 59.5, {"a": 1.0}), (NOW - 30.0, {"a": 5.0}), (NOW - 0.1, {"a": 2.0}),
               (NOW - 120.0, {"a": 99.0})]  # older than the window: left out
    out = buckets(samples, "a", NOW, 6)  # 10 s per bucket
    assert out == [1.0, 1.0, 1.0, 5.0, 5.0, 2.0]
    assert buckets(samples, "missing", NOW, 6) == [None] * 6
    late = buckets([(NOW - 5.0, {"a": 3.0})], "a", NOW, 6)
    assert late == [None] * 5 + [3.0]  # nothing before the console started


def test_spark_scales_to_the_max_and_shows_no_data_as_blank() -> None:
    """The top value is a full block; zero is the lowest block; no sample is a blank."""
    assert spark([None, 0.0, 50.0, 100.0], 100.0) == " ▁▄█"
    assert spark([0.0, 0.0], 0.0) == "▁▁"


def test_a_line_names_the_dataset_and_its_scale() -> None:
    """`name  spark  max N/s`, cut to the width given."""
    line = rate_line("stocks.trades", [100.0, 21_000.0], 40)
    assert line.startswith("stocks.trades  ▁█") and line.endswith("max 21.0k/s")
    assert len(line) <= 40


def test_axis_marks_minus_60s_and_now() -> None:
    """The axis sits under the sparkline part: -60s at its start, now at its end."""
    axis = axis_line(60)
    assert axis.lstrip().startswith("-60s") and axis.endswith("now") and "-30s" in axis
    assert axis.index("-60s") == 15  # after the 14-cell name and a space


def test_layout_uses_two_columns_when_rows_are_few() -> None:
    """7 datasets in 4 rows and 78 columns: two columns, no room for the axis."""
    assert layout(7, 158, 9) == (1, True)
    assert layout(7, 78, 4) == (2, False)
    lines = render([(NOW - 1, {f"d{i}": float(i) for i in range(7)})],
                   [f"d{i}" for i in range(7)], NOW, 78, 4)
    assert len(lines) == 4 and "d0" in lines[0] and "d1" in lines[0]
    assert all(len(line) <= 78 for line in lines)
