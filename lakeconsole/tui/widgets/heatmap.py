"""The coverage heat map: one row per dataset/partition, one coloured cell per UTC hour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from rich.text import Text
from textual.widgets import DataTable

HOURS = 24
# status → (glyph, theme variable of its colour). The glyph keeps the map readable without
# colour (a plain-text capture, colour blindness). Ordered as ledger.coverage.STATUSES.
STATUS_LOOK: dict[str, tuple[str, str]] = {
    "loss": ("L", "error"),
    "gaps": ("g", "warning"),
    "not compacted": ("n", "secondary"),
    "stale": ("s", "accent"),
    "empty": ("·", "panel"),
    "complete": ("✓", "success"),
}
UNKNOWN_LOOK = ("?", "foreground")
WIDE_CELL = 4  # cells at 120 columns and more; 2 below (24 x 2 + labels fit 80 columns)
NARROW_CELL = 2
MIN_LABEL = 8


class CoverageCell(Protocol):
    """What the heat map needs of one hour's coverage (ledger.coverage.HourCoverage)."""

    @property
    def dataset(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def hour(self) -> int: ...
    @property
    def status(self) -> str: ...


def row_name(cell: CoverageCell) -> str:
    """The row a cell belongs to: `dataset/partition`."""
    return f"{cell.dataset}/{cell.partition}"


def truncate(label: str, width: int) -> str:
    """`label`, cut to `width` with an ellipsis."""
    return label if len(label) <= width else label[:max(width - 1, 0)] + "…"


def status_cell(status: str, width: int, colours: Mapping[str, str]) -> Text:
    """A status as a coloured block of `width` cells with its glyph in the middle."""
    glyph, variable = STATUS_LOOK.get(status, UNKNOWN_LOOK)
    fill = colours.get(variable, "")
    ink = colours.get("foreground" if variable in ("panel", "foreground") else "background", "")
    style = f"{ink} on {fill}".strip() if fill else ink
    body = glyph.center(width - 1 if width > NARROW_CELL else width)
    text = Text(body, style=style)
    if width > NARROW_CELL:
        text.append(" ")  # a gap between wide cells
    return text


def legend(colours: Mapping[str, str]) -> Text:
    """Every status with its glyph and colour, on one line."""
    text = Text()
    for status in STATUS_LOOK:
        text.append_text(status_cell(status, 3, colours))
        text.append(f"{status}  ")
    return text


class HeatMap(DataTable[Text]):
    """A cell-cursor DataTable of statuses; `enter` on a cell posts DataTable.CellSelected."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="cell", cell_padding=0, zebra_stripes=False,
                         **kwargs)  # type: ignore[arg-type]
        self.rows_shown: list[str] = []
        self.cell_width = 0

    def fill(self, cells: Sequence[CoverageCell], colours: Mapping[str, str],
             width: int) -> None:
        """Rebuild the grid for `width` columns of screen, keeping the cursor."""
        cursor = self.cursor_coordinate
        self.cell_width = NARROW_CELL if width < 120 else WIDE_CELL
        grid: dict[str, dict[int, str]] = {}
        for cell in cells:
            grid.setdefault(row_name(cell), {})[cell.hour] = cell.status
        self.rows_shown = sorted(grid)
        longest = max((len(r) for r in self.rows_shown), default=MIN_LABEL)
        room = width - HOURS * self.cell_width - 7  # border, scrollbar, the label's space
        label_width = max(MIN_LABEL, min(longest, room))
        self.clear(columns=True)
        for hour in range(HOURS):
            # 2-cell columns would run the labels together: there, only even hours are named.
            label = f"{hour:02d}" if self.cell_width > NARROW_CELL or hour % 2 == 0 else ""
            self.add_column(label, width=self.cell_width, key=str(hour))
        for name in self.rows_shown:
            statuses = grid[name]
            self.add_row(*(status_cell(statuses.get(h, "empty"), self.cell_width, colours)
                           for h in range(HOURS)),
                         key=name, label=Text(truncate(name, label_width) + " "))
        if self.rows_shown:
            self.cursor_coordinate = self.validate_cursor_coordinate(cursor)

    def cell_at_cursor(self) -> tuple[str, int] | None:
        """(row name, hour) under the cursor, or None on an empty map."""
        if not self.rows_shown:
            return None
        row, column = self.cursor_coordinate
        return self.rows_shown[row], column
