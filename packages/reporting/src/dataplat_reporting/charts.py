"""Charts as inline SVG strings: no JavaScript, no CDN, nothing to install; the browser draws them offline.

Every chart is `<svg class="chart" data-chart="<id>">` and every data mark (line, point, bar) has class
`mark`, so a test can assert that a chart rendered with data, not just that an element exists.
"""

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")
FONT = 'font-family="system-ui, sans-serif" font-size="11" fill="#374151"'


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def _empty(chart_id: str, title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart empty" data-chart="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {FONT}>no data</text></svg>'
    )


def line_chart(
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    width: int = 760,
    height: int = 260,
) -> str:
    """Lines over a shared x axis of labels (e.g. dates), y from zero."""
    if not x_labels or not series:
        return _empty(chart_id, title, width, height)
    left, right, top, bottom = 64, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _nice_ticks(max((max(v, default=0) for _, v in series), default=0))
    y_max = ticks[-1]
    n = len(x_labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    parts = [
        f'<svg class="chart" data-chart="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" {FONT}>{escape(fmt(t))}</text>'
        )
    step = max(1, math.ceil(n / 8))  # at most ~8 x labels
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT}>{escape(x_labels[i])}</text>'
        )
    for s, (name, values) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="mark" data-series="{escape(name)}" points="{points}" fill="none" '
            f'stroke="{color}" stroke-width="2" stroke-linejoin="round"/>'
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle class="mark point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(x_labels[i])}: {escape(fmt(v))}</title></circle>"
            )
    if len(series) > 1:  # legend only when there is something to tell apart
        for s, (name, _) in enumerate(series):
            lx = left + 8 + s * 140
            color = PALETTE[s % len(PALETTE)]
            parts.append(f'<rect x="{lx}" y="{top}" width="10" height="10" fill="{color}"/>')
            parts.append(f'<text x="{lx + 14}" y="{top + 9}" {FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    width: int = 760,
    bar_height: int = 20,
    label_width: int = 220,
    max_value: float | None = None,
) -> str:
    """Horizontal bars, one per label, longest scale `max_value` (default: the largest value)."""
    if not labels:
        return _empty(chart_id, title, width, 80)
    gap, top = 6, 8
    height = top * 2 + len(labels) * (bar_height + gap)
    plot_w = width - label_width - 90
    scale = max_value or max(max(values), 1e-12)
    parts = [
        f'<svg class="chart" data-chart="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_height + gap)
        w = max(1.0, plot_w * max(value, 0) / scale)
        text = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" {FONT}>{escape(text)}</text>'
        )
        parts.append(
            f'<rect class="mark bar" x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
            f'fill="{PALETTE[0]}" rx="2"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
        parts.append(
            f'<text x="{label_width + w + 6:.1f}" y="{y + bar_height * 0.7:.1f}" {FONT}>{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
