"""Small charts drawn on the server as SVG: no script, no CDN, printable.

Labels are never cut: the label column is as wide as the longest label needs,
up to a limit, and a label longer than that wraps onto more lines, its row
growing to hold them. Widths are estimated from the characters (a Chinese
character is about one em wide, a Latin letter about 0.6 em), generously, since
the server cannot measure the browser's font. Amounts are Decimal; only the
geometry is rounded.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape

FONT_SIZE = 13
LINE_HEIGHT = 16
LABEL_PADDING = 12
VALUE_ROOM = 110  # right of the longest bar, for its amount
DESK_WIDTH = 900
# The width of a phone's page less its margins: drawn for it, a chart's labels are read at
# their own size; the desk's chart shrunk to a phone would put them at a third of it.
PHONE_WIDTH = 340


@dataclass
class Bar:
    label: str
    values: tuple[Decimal, ...]


@dataclass
class Stack:
    """One stacked bar: `label`, and its parts in the order of the chart's series."""

    label: str
    parts: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return sum(self.parts, Decimal(0))


def text_width(text: str, font_size: float = FONT_SIZE) -> float:
    """A generous estimate of how wide `text` is drawn, in pixels."""
    ems = sum(1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.62 for char in text)
    return ems * font_size


def wrap(text: str, max_width: float, font_size: float = FONT_SIZE) -> list[str]:
    """`text` in lines no wider than `max_width`: broken at spaces where there are
    any, else between characters (Chinese names have no spaces)."""
    lines: list[str] = []
    line = ""
    for word in _words(text):
        candidate = line + word
        if line and text_width(candidate.rstrip(), font_size) > max_width:
            lines.append(line.rstrip())
            line = word.lstrip()
        else:
            line = candidate
        while text_width(line.rstrip(), font_size) > max_width and len(line.rstrip()) > 1:  # a word too long
            cut = _fitting(line, max_width, font_size)
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _words(text: str) -> list[str]:
    """Runs of Latin letters and digits with the spaces after them; any other character alone."""
    return re.findall(r"[!-~]+ *|.", text)


def _fitting(line: str, max_width: float, font_size: float) -> int:
    cut = len(line)
    while cut > 1 and text_width(line[:cut], font_size) > max_width:
        cut -= 1
    return cut


def _label(lines: list[str], x: float, top: float, height: float, full: str) -> str:
    """Right-aligned lines centred on a row of `height`, with the full text as a tooltip."""
    first = top + (height - LINE_HEIGHT * len(lines)) / 2 + LINE_HEIGHT - 4
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{first + number * LINE_HEIGHT:.1f}">{escape(line)}</tspan>'
        for number, line in enumerate(lines)
    )
    return f'<text class="label" text-anchor="end"><title>{escape(full)}</title>{spans}</text>'


def _legend(series: tuple[str, ...], colours: tuple[str, ...], x: float, width: int) -> tuple[list[str], int]:
    """Legend entries left to right from `x`, onto a new line when one is full."""
    parts, left, top = [], x, 6
    for name, colour in zip(series, colours, strict=True):
        room = 18 + text_width(name) + 24
        if left + room > width and left > x:
            left, top = x, top + LINE_HEIGHT + 4
        parts.append(f'<rect x="{left:.1f}" y="{top}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + 18:.1f}" y="{top + 11}">{escape(name)}</text>')
        left += room
    return parts, top + 22


def _label_column(labels: list[str], width: int) -> tuple[float, list[list[str]]]:
    """The width of the label column and each label's lines."""
    limit = width * 0.38
    widest = max((text_width(label) for label in labels), default=0)
    column = min(max(widest, 60), limit)
    return column + LABEL_PADDING, [wrap(label, column) for label in labels]


def _frame(
    labels: list[str],
    bar_room: int,
    padding: int,
    series: tuple[str, ...],
    colours: tuple[str, ...],
    width: int,
    title: str,
    css_class: str,
) -> tuple[float, list[list[str]], list[int], list[str], int]:
    """What both charts share: the label column, each row's height (its bars or
    its wrapped label, whichever is taller, plus `padding`), and the opened SVG
    with its legend. Returns (label width, label lines, row heights, parts, top of
    the first row)."""
    label_width, lines = _label_column(labels, width)
    legend, legend_height = _legend(series, colours, label_width, width)
    heights = [max(bar_room, LINE_HEIGHT * len(label_lines)) + padding for label_lines in lines]
    height = legend_height + sum(heights) + 6
    opened = _svg_open(width, height, title or " / ".join(series), css_class)
    return label_width, lines, heights, [opened, *legend], legend_height


def _svg_open(width: int, height: int, title: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="{escape(css_class)}" font-size="{FONT_SIZE}" '
        'font-family="sans-serif">'
    )


def for_desk_and_phone(draw: Callable[..., str], *args, **kwargs) -> str:
    """The chart drawn twice, for a desk and for a phone (classes `desk` and `phone`);
    the stylesheet shows the one that fits the screen, without a script."""
    return draw(*args, width=DESK_WIDTH, css_class="chart desk", **kwargs) + draw(
        *args, width=PHONE_WIDTH, css_class="chart phone", **kwargs
    )


def grouped_bars(
    bars: list[Bar],
    series: tuple[str, ...],
    colours: tuple[str, ...],
    *,
    width: int = DESK_WIDTH,
    title: str = "",
    css_class: str = "chart",
) -> str:
    """Horizontal grouped bars, one group per label, scaled to the largest value."""
    if not bars:
        return ""
    bar_height, gap = 12, 2
    group_height = len(series) * (bar_height + gap) - gap
    label_width, lines, heights, parts, top = _frame(
        [bar.label for bar in bars], group_height, 12, series, colours, width, title, css_class
    )
    largest = max((value for bar in bars for value in bar.values), default=Decimal(0)) or Decimal(1)
    plot_width = width - label_width - VALUE_ROOM
    for bar, label_lines, row_height in zip(bars, lines, heights, strict=True):
        parts.append(_label(label_lines, label_width - LABEL_PADDING / 2, top, row_height, bar.label))
        first = top + (row_height - group_height) / 2
        for index, (value, colour, name) in enumerate(zip(bar.values, colours, series, strict=True)):
            length = float(value / largest) * plot_width if value > 0 else 0.0
            y = first + index * (bar_height + gap)
            parts.append(
                f'<rect x="{label_width:.1f}" y="{y:.1f}" width="{length:.1f}" height="{bar_height}" fill="{colour}">'
                f"<title>{escape(bar.label)} · {escape(name)}: {value:,.2f}</title></rect>"
            )
            parts.append(
                f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 2:.1f}" font-size="11">'
                f"{value:,.2f}</text>"
            )
        top += row_height
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    stacks: list[Stack],
    series: tuple[str, ...],
    colours: tuple[str, ...],
    *,
    width: int = DESK_WIDTH,
    title: str = "",
    css_class: str = "chart",
) -> str:
    """Horizontal stacked bars, one per label, each part in its series' colour,
    with the bar's total at its end; scaled to the largest total."""
    if not stacks:
        return ""
    bar_height = 16
    label_width, lines, heights, parts, top = _frame(
        [stack.label for stack in stacks], bar_height, 10, series, colours, width, title, css_class
    )
    largest = max((stack.total for stack in stacks), default=Decimal(0)) or Decimal(1)
    plot_width = width - label_width - VALUE_ROOM
    for stack, label_lines, row_height in zip(stacks, lines, heights, strict=True):
        parts.append(_label(label_lines, label_width - LABEL_PADDING / 2, top, row_height, stack.label))
        y = top + (row_height - bar_height) / 2
        left = label_width
        for value, colour, name in zip(stack.parts, colours, series, strict=True):
            if value <= 0:
                continue
            length = float(value / largest) * plot_width
            parts.append(
                f'<rect x="{left:.1f}" y="{y:.1f}" width="{length:.1f}" height="{bar_height}" fill="{colour}">'
                f"<title>{escape(stack.label)} · {escape(name)}: {value:,.2f}</title></rect>"
            )
            left += length
        parts.append(f'<text x="{left + 4:.1f}" y="{y + bar_height - 3:.1f}" font-size="11">{stack.total:,.2f}</text>')
        top += row_height
    parts.append("</svg>")
    return "".join(parts)
