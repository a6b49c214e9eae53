"""The table model: plain data that every renderer (LaTeX, terminal, Markdown) formats the same way.

A `Table` is columns, groups of rows and notes. A `Cell` holds either a mean/std over seeds, an
undefined value with its reason, or plain text. Ranking (best / second) and footnote markers are
decided here, once, so that the LaTeX and the terminal tables cannot disagree.
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass, field

from benchmark.metrics import Undefined, aggregate_seeds

BEST, SECOND = 1, 2


@dataclass(frozen=True)
class Column:
    key: str  # metric name (or any key of the row's cells)
    label: str
    span: str = ""  # super-header shared by adjacent columns (e.g. "P-AUPRO" over @30% / @1%)
    kind: str = "metric"  # "metric": x100, ranked; "text": as is; "number": see `fmt`
    fmt: str = "{:.1f}"  # for "number" columns (mean and std)
    ranked: bool = True
    higher_is_better: bool = True
    align: str = "c"
    show_std: bool = True


@dataclass
class Cell:
    mean: float | None = None
    std: float | None = None
    n: int = 0
    text: str | None = None
    reason: str | None = None  # why the value is undefined (for a dash), or a caveat on a value
    rank: int = 0  # BEST, SECOND or 0
    note: str = ""  # footnote marker, filled by Table.assign_notes

    @property
    def defined(self) -> bool:
        return self.mean is not None

    @property
    def is_dash(self) -> bool:
        return self.mean is None and self.text is None


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    method: str = ""


@dataclass
class RowGroup:
    title: str  # "" for an untitled group
    rows: list[Row]
    scope: str = ""  # groups of one scope are ranked together (e.g. a subset's rows apart)
    ranked: bool = True  # False: shown for reference (the shortcut floors), never ranked


@dataclass
class Table:
    name: str  # file stem, e.g. "main"
    title: str  # short title for the terminal / Markdown
    caption: str  # plain text, at most three sentences; renderers escape it
    columns: list[Column]
    groups: list[RowGroup]
    row_header: str = "Method"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (marker, text)
    extra_notes: list[str] = field(default_factory=list)  # unmarked notes under the table
    label: str = ""
    # the protocol in full (subsets, floors, intervals, selection): a note under the table, so
    # that the caption stays short
    details: list[str] = field(default_factory=list)
    wide: bool = False  # LaTeX: spans both columns of a two-column paper (table*)

    def rows(self) -> list[Row]:
        return [r for g in self.groups for r in g.rows]

    def rank(self) -> None:
        """Bold the best and underline the second value of each ranked column.

        NOTE: comparable rows = every row of this table (across its row groups of one scope)
        whose value in that column is defined. Values are compared as displayed (rounded), so
        rows that look equal share a rank; a column with fewer than two defined rows gets no marks.
        """
        for scope in dict.fromkeys(g.scope for g in self.groups):
            rows = [r for g in self.groups if g.scope == scope and g.ranked for r in g.rows]
            self._rank(rows)

    def _rank(self, rows: list[Row]) -> None:
        for col in self.columns:
            if col.kind == "text" or not col.ranked:
                continue
            cells = [r.cells[col.key] for r in rows if col.key in r.cells]
            defined = [c for c in cells if c.defined]
            if len(defined) < 2:
                continue
            shown = {id(c): float(col.fmt.format(display_value(col, c.mean))) for c in defined}
            order = sorted(set(shown.values()), reverse=col.higher_is_better)
            for c in defined:
                c.rank = BEST if shown[id(c)] == order[0] else (
                    SECOND if len(order) > 1 and shown[id(c)] == order[1] else 0)

    def assign_notes(self) -> None:
        """One footnote marker (a, b, ...) per distinct reason, in reading order."""
        markers: dict[str, str] = {}
        for row in self.rows():
            for col in self.columns:
                cell = row.cells.get(col.key)
                if cell is None or not cell.reason:
                    continue
                if cell.reason not in markers:
                    markers[cell.reason] = _marker(len(markers))
                cell.note = markers[cell.reason]
        self.notes = [(m, reason) for reason, m in markers.items()]


def _marker(i: int) -> str:
    letters = string.ascii_lowercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def display_value(col: Column, value: float) -> float:
    return 100.0 * value if col.kind == "metric" else value


# ---------------------------------------------------------------------------- cells from seeds
def summarise(values: list, missing_reasons: list[str | None] | None = None) -> Cell:
    """A cell from one value per seed (a float, an `Undefined`, or None when absent).

    Absent values take the seed's `missing_reasons` entry (e.g. the unit's pixel note). Mean and
    std come from `benchmark.metrics.aggregate_seeds` (the one aggregation rule of the suite).
    A value defined in some seeds only is shown with a footnote saying so.
    """
    missing_reasons = missing_reasons or [None] * len(values)
    numbers, reasons = [], []
    for v, why in zip(values, missing_reasons):
        if v is None:
            reasons.append(why or "not computed")
        elif isinstance(v, Undefined):
            reasons.append(v.reason)
        elif isinstance(v, (int, float)) and math.isfinite(float(v)):
            numbers.append(float(v))
        else:
            reasons.append(f"not a number ({v!r})")
    uniq = "; ".join(dict.fromkeys(reasons))
    if not numbers:
        return Cell(reason=uniq or "no result", n=0)
    agg = aggregate_seeds([{"v": x} for x in numbers])["v"]
    cell = Cell(mean=agg["mean"], std=agg["std"], n=agg["n"])
    if reasons:
        cell.reason = f"defined in {len(numbers)} of {len(values)} seeds (others: {uniq})"
    return cell


def format_number(col: Column, cell: Cell) -> tuple[str, str | None]:
    """(mean, std) as displayed; std is None when it is not shown (one seed, or column without std)."""
    mean = col.fmt.format(display_value(col, cell.mean))
    if cell.std is None or cell.n < 2 or not col.show_std:
        return mean, None
    return mean, col.fmt.format(display_value(col, cell.std))
