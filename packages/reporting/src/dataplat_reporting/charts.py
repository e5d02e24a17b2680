"""Charts drawn by matplotlib as inline SVG: no script, no CDN; the browser shows them offline.

Each chart is `<figure class="chart" data-chart="<section id>">` around matplotlib's `<svg>`. Every data mark
(a line, a point, a bar, a heatmap cell) is a group whose id starts with `mark-<section id>-`, so a test can
assert that a chart was drawn with its data, not just that an element exists. Text stays text
(`svg.fonttype: none`): axis titles and tick labels can be read and searched in the HTML.

matplotlib is imported when a report is rendered, not when the code location loads. Its font cache goes to a
folder under the system's temporary directory (MPLCONFIGDIR, unless set), not into the user's home.
"""

import io
import math
import os
import tempfile
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Any

from dataplat_reporting.report_sections import Axis, Shown

COLOR = "#2563eb"
STYLE = {
    "svg.fonttype": "none",  # text as <text>, not paths
    "svg.hashsalt": "dataplat",  # the same data gives the same file
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "axes.axisbelow": True,
}


def _matplotlib():
    cache = Path(tempfile.gettempdir()) / f"dataplat-matplotlib-{os.getuid()}"
    os.environ.setdefault("MPLCONFIGDIR", str(cache))
    import matplotlib
    import matplotlib.dates
    import matplotlib.figure
    import matplotlib.ticker

    return matplotlib


def _number(value: Any) -> float:
    return float(value) if value is not None else math.nan


def _when(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


def render_chart(shown: Shown) -> str:
    """The section's chart as `<figure class="chart">` with an inline SVG."""
    section = shown.section
    matplotlib = _matplotlib()
    with matplotlib.rc_context(STYLE):
        figure = matplotlib.figure.Figure(figsize=(7.6, 3.2), layout="constrained")
        ax = figure.add_subplot()
        draw = {"line": _line, "bar": _bar, "heatmap": _heatmap}[section.chart]
        if shown.rows:
            draw(ax, shown, matplotlib)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        out = io.StringIO()
        # No RDF block (creator, date, format URLs): the file holds the chart and nothing to fetch or date it.
        figure.savefig(
            out, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None}
        )
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    return (
        f'<figure class="chart" data-chart="{escape(section.id)}" role="img" '
        f'aria-label="{escape(section.title)}">{svg}</figure>'
    )


def _value_axis(axis, declared: Axis, matplotlib) -> None:
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: declared.show(v)))
    axis.set_label_text(declared.label())


def _line(ax, shown: Shown, matplotlib) -> None:
    x_axis, y_axis = shown.section.x, shown.section.y
    xs = [_when(r[x_axis.column]) for r in shown.rows]
    ys = [_number(r[y_axis.column]) for r in shown.rows]
    mark = f"mark-{shown.section.id}"
    ax.plot(xs, ys, color=COLOR, linewidth=1.6, gid=f"{mark}-line")
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        ax.plot([x], [y], "o", color=COLOR, markersize=2.5, gid=f"{mark}-{i}")
    if all(isinstance(x, date) for x in xs):
        locator = matplotlib.dates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    ax.set_xlabel(x_axis.label())
    _value_axis(ax.yaxis, y_axis, matplotlib)
    ax.set_ylim(bottom=min(0, *(y for y in ys if not math.isnan(y))))


def _bar(ax, shown: Shown, matplotlib) -> None:
    """Horizontal bars, first row on top: labels stay readable however long they are."""
    x_axis, y_axis = shown.section.x, shown.section.y
    labels = [x_axis.show(r[x_axis.column]) for r in shown.rows]
    values = [_number(r[y_axis.column]) for r in shown.rows]
    bars = ax.barh(range(len(values)), values, color=COLOR)
    for i, bar in enumerate(bars):
        bar.set_gid(f"mark-{shown.section.id}-{i}")
    ax.bar_label(bars, labels=[y_axis.show(v) for v in values], padding=3, fontsize=8)  # the exact value
    ax.margins(x=0.12)  # room for the labels of the longest bars
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_ylabel(x_axis.label())
    _value_axis(ax.xaxis, y_axis, matplotlib)
    figure = ax.get_figure()
    figure.set_figheight(max(2.4, 0.6 + 0.24 * len(labels)))


def _heatmap(ax, shown: Shown, matplotlib) -> None:
    """Cells of `value` by `x` (columns) and `y` (rows); only rows and columns that hold a value are drawn."""
    section = shown.section
    x_axis, y_axis, value_axis = section.x, section.y, section.value
    cells = {
        (r[y_axis.column], r[x_axis.column]): _number(r[value_axis.column])
        for r in shown.rows
        if r[value_axis.column] is not None
    }
    rows = sorted({y for y, _ in cells})
    columns = sorted({x for _, x in cells})
    grid = [[cells.get((y, x), math.nan) for x in columns] for y in rows]
    image = ax.imshow(grid, cmap="Blues", aspect="auto")
    top = max(cells.values(), default=0) or 1
    for i, y in enumerate(rows):
        for j, x in enumerate(columns):
            if (y, x) in cells:
                value = cells[(y, x)]
                ax.text(
                    j, i, value_axis.show(value), ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * top else "#111827", gid=f"mark-{section.id}-{i}-{j}",
                )  # fmt: skip
    ax.set_xticks(range(len(columns)), [x_axis.show(x) for x in columns])
    ax.set_yticks(range(len(rows)), [y_axis.show(y) for y in rows])
    ax.set_xlabel(x_axis.label())
    ax.set_ylabel(y_axis.label())
    ax.grid(visible=False)
    bar = ax.get_figure().colorbar(image, ax=ax)
    _value_axis(bar.ax.yaxis, value_axis, matplotlib)
    ax.get_figure().set_figheight(max(2.4, 0.9 + 0.28 * len(rows)))
