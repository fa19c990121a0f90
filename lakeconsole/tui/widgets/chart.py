"""The chart of a query result: textual-plotext, time on the x axis as wall-clock labels."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from lakeconsole.tui.chartdata import ChartData

# Line series get braille dots (2x4 per cell); point series a plain dot.
MARKERS = {"line": "braille", "points": "dot"}
COLORS = ("cyan", "orange", "green", "magenta")


class ResultChart(PlotextPlot):
    """Draws a ChartData; renders nothing but the data it is given."""

    def __init__(self, data: ChartData, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data = data

    def on_mount(self) -> None:
        """Build the plot once: plotext redraws it at every size."""
        self.draw()

    def draw(self) -> None:
        """Series, axis labels and time ticks from `data`."""
        plt, data = self.plt, self.data
        plt.clear_figure()
        for index, series in enumerate(data.series):
            # Points (trade sizes) are scattered: joined, a size series is a solid block.
            draw = plt.scatter if series.style == "points" else plt.plot
            draw(series.xs, series.ys, label=f"{series.name} ({series.side})",
                 yside=series.side, marker=MARKERS.get(series.style, "braille"),
                 color=COLORS[index % len(COLORS)])
        plt.xticks(list(data.ticks), list(data.labels))
        plt.xlabel(data.time_column)
        for side in ("left", "right"):
            names = [s.name for s in data.series if s.side == side]
            if names:
                # The stub names it xside; plotext's ylabel takes yside.
                plt.ylabel(", ".join(names), yside=side)  # type: ignore[call-arg]
        self.refresh()
