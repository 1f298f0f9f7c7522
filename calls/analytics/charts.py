"""Chart geometry for server-rendered SVG: numbers in, shapes out.

SVG drawn on the server needs no script and no inline style (colours come from CSS
classes, so dark mode recolours it), links each bar to its slice of the calls list with a
plain <a>, and prints at once. The templates in templates/calls/overview.html#chart-*
draw these shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 8, 36  # room for the axes' labels


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    css: str
    href: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    baseline: float
    max_value: int


def nice_max(value: int) -> int:
    """A round axis top at or above `value`: 1, 2, 5 times a power of ten."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for mult in (1, 2, 5):
            if step * mult >= value:
                return step * mult
        step *= 10


def stacked(
    labels: Sequence[str],
    values: Sequence[dict[str, int]],
    series: Sequence[tuple[str, str]],
    href: Callable[[int, str], str],
) -> Chart:
    """Vertical bars, one per label, stacked in `series` order ((key, label) pairs)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_max(max((sum(v.values()) for v in values), default=0))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.8, 1)
    rects = []
    for i, counts in enumerate(values):
        y = TOP + plot_h
        for key, name in series:
            n = counts.get(key, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            rects.append(
                Rect(
                    x=round(LEFT + i * slot + (slot - bar_w) / 2, 2),
                    y=round(y, 2),
                    w=round(bar_w, 2),
                    h=round(h, 2),
                    css=f"s-{key}",
                    href=href(i, key),
                    title=f"{labels[i]}: {n} {name.lower()}",
                )
            )
    return Chart(
        WIDTH, HEIGHT, rects, _y_ticks(top, plot_h), _x_ticks(labels, slot), TOP + plot_h, top
    )


def _y_ticks(top: int, plot_h: float) -> list[Tick]:
    # The middle line only where it is a whole number (nice_max is 1, 2 or 5 x 10^n).
    fractions = (0, 0.5, 1) if top % 2 == 0 else (0, 1)
    return [
        Tick(LEFT - 6, round(TOP + plot_h - plot_h * f, 2), f"{round(top * f):,}")
        for f in fractions
    ]


def _x_ticks(labels: Sequence[str], slot: float) -> list[Tick]:
    # At most ~8 labels: more would overlap at 720 px.
    every = max(1, -(-len(labels) // 8))
    return [
        Tick(round(LEFT + i * slot + slot / 2, 2), HEIGHT - BOTTOM + 16, label)
        for i, label in enumerate(labels)
        if i % every == 0
    ]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    width: float  # percent of the longest, for <rect width>
    href: str


def horizontal(items: Sequence[tuple[str, int, str]]) -> list[Bar]:
    """Horizontal bars (label, value, href), longest first as given."""
    top = max((value for _, value, _ in items), default=0) or 1
    return [Bar(label, value, round(100 * value / top, 2), href) for label, value, href in items]


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    value: int
    level: int  # 0..5, a CSS class
    href: str
    title: str


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CELL = 24


@dataclass(frozen=True)
class Heat:
    cells: list[Cell]
    days: list[Tick]
    hours: list[Tick]


def heat(grid: list[list[int]], href: Callable[[int, int], str]) -> Heat:
    """A weekday x hour grid as cells with a colour level (0: none, 5: the busiest)."""
    top = max((max(row) for row in grid), default=0)
    cells = []
    for day, row in enumerate(grid):
        for hour, value in enumerate(row):
            level = 0 if not value else 1 + min(4, int(5 * value / (top + 1)))
            cells.append(
                Cell(
                    x=40 + hour * CELL,
                    y=4 + day * CELL,
                    value=value,
                    level=level,
                    href=href(day, hour),
                    title=f"{DAYS[day]} {hour:02d}:00: {value} calls",
                )
            )
    days = [Tick(34, 4 + d * CELL + CELL / 2, name) for d, name in enumerate(DAYS)]
    hours = [Tick(40 + h * CELL + CELL / 2 - 1, 7 * CELL + 18, f"{h:02d}") for h in range(0, 24, 3)]
    return Heat(cells, days, hours)
