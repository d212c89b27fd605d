"""Inline SVG line charts, drawn on the server: no script, no front-end build.

A ``None`` point is a hidden (suppressed) or undefined value: the line breaks there
rather than pretending to know it. Every point carries a ``<title>`` (its week and
value: shown on hover, read by screen readers) and the chart a ``<desc>`` listing every
value as text; a chart with no value at all says so instead of drawing empty axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def nice_step(value: float, intervals: int = 5, integer: bool = False) -> float:
    """A round grid step (1, 2 or 5 x 10^n) so that ``intervals`` steps reach ``value``;
    at least 1 when ``integer`` (counts have no fractional ticks)."""
    if value <= 0:
        return 1.0
    target = value / intervals
    step = 10.0 ** math.floor(math.log10(target))
    for m in (1, 2, 5, 10):
        if m * step >= target:
            step = m * step
            break
    else:
        step = 10 * step
    return max(step, 1.0) if integer else step


def nice_max(value: float, integer: bool = False) -> float:
    """The top of the axis: a whole number of round steps at or above ``value``."""
    step = nice_step(value, integer=integer)
    return max(step, math.ceil(value / step - 1e-9) * step)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


def line_chart(
    series: Mapping[str, Sequence[float | int | None]],
    x_labels: Sequence[str],
    title: str,
    *,
    width: int = 640,
    height: int = 260,
    y_max: float | None = None,
    integer: bool = False,
    no_data: str = "No data",
    fmt: Callable[[float], str] | None = None,
    tick_labels: Sequence[str] | None = None,
) -> Markup:
    """An accessible SVG line chart of ``series`` over ``x_labels``; scales to its box.

    ``integer``: counts (whole ticks only); ``fmt`` formats values (per locale);
    ``tick_labels``: shorter labels under the axis (default: ``x_labels``).
    """
    show = fmt or _fmt
    left, right, top, bottom = 48, 12, 12, 42
    # Legend columns as wide as the longest name (about 7 units a character at 12 px).
    longest = max((len(name) for name in series), default=0)
    per_row = max(1, min(3, int((width - left - right) // (longest * 7 + 28))))
    legend_rows = (len(series) + per_row - 1) // per_row
    height += 18 * legend_rows
    plot_w = width - left - right
    plot_h = height - top - bottom - 18 * legend_rows
    values = [v for s in series.values() for v in s if v is not None]
    ymax = y_max if y_max is not None else nice_max(max(values, default=0), integer)
    n = max(len(x_labels), 1)
    ticks = tick_labels or x_labels

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + plot_h - plot_h * (v / ymax if ymax else 0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{escape(title)}" direction="ltr">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(_describe(series, x_labels, show, no_data))}</desc>",
    ]
    if not values:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'font-size="16" fill="#555">{escape(no_data)}</text></svg>'
        )
        return Markup("".join(parts))
    step = nice_step(ymax, integer=integer)
    for k in range(round(ymax / step) + 1):
        v = step * k
        yy = y(v)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#444">{escape(show(v))}</text>'
        )
    every = max(1, (n + 5) // 6)
    for i, label in enumerate(ticks):
        if (n - 1 - i) % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'font-size="12" fill="#444">{escape(label)}</text>'
            )
    for idx, (name, points) in enumerate(series.items()):
        colour = PALETTE[idx % len(PALETTE)]
        segments: list[list[tuple[float, float, str]]] = [[]]
        for i, point in enumerate(points):
            if point is None:
                segments.append([])
            else:
                tip = f"{name}, {x_labels[i]}: {show(float(point))}"
                segments[-1].append((x(i), y(float(point)), tip))
        for seg in segments:
            if len(seg) > 1:
                pts = " ".join(f"{a:.1f},{b:.1f}" for a, b, _t in seg)
                parts.append(
                    f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
            for a, b, tip in seg:
                # A larger invisible target makes the hover title reachable on a phone.
                parts.append(
                    f"<g><title>{escape(tip)}</title>"
                    f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>'
                    f'<circle cx="{a:.1f}" cy="{b:.1f}" r="9" fill="transparent"/></g>'
                )
        row, col = divmod(idx, per_row)
        lx = left + col * (plot_w / per_row)
        ly = top + plot_h + 34 + row * 18
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16:.1f}" y="{ly + 1}" font-size="12" fill="#222">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(
    series: Mapping[str, Sequence[float | int | None]],
    x_labels: Sequence[str],
    show: Callable[[float], str],
    no_data: str,
) -> str:
    """Every value as text, for screen readers: ``name: week value; ...``."""
    lines = []
    for name, points in series.items():
        shown = [
            f"{label} {show(float(p))}"
            for label, p in zip(x_labels, points, strict=False)
            if p is not None
        ]
        lines.append(f"{name}: {'; '.join(shown) or no_data}")
    return ". ".join(lines) or no_data
