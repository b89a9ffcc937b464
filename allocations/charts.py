"""Small charts drawn on the server as SVG: no script, no CDN, printable."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape


@dataclass
class Bar:
    label: str
    values: tuple[Decimal, ...]


def grouped_bars(bars: list[Bar], series: tuple[str, ...], colours: tuple[str, ...], *, width: int = 900) -> str:
    """Horizontal grouped bars, one group per label, scaled to the largest value."""
    if not bars:
        return ""
    row_height, bar_height, label_width, legend_height = 34, 12, 170, 28
    height = legend_height + row_height * len(bars) + 10
    largest = max((value for bar in bars for value in bar.values), default=Decimal(0)) or Decimal(1)
    plot_width = width - label_width - 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'font-size="13" font-family="sans-serif">'
    ]
    for index, (name, colour) in enumerate(zip(series, colours, strict=True)):
        x = label_width + index * 160
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="17">{escape(name)}</text>')
    for row, bar in enumerate(bars):
        top = legend_height + row * row_height
        parts.append(
            f'<text x="{label_width - 8}" y="{top + bar_height + 4}" text-anchor="end">{escape(bar.label)}</text>'
        )
        for index, (value, colour) in enumerate(zip(bar.values, colours, strict=True)):
            length = value / largest * plot_width if value > 0 else Decimal(0)
            y = top + index * (bar_height + 2)
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 2}" font-size="11">{value:,.2f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
