"""The report as one self-contained HTML file (inline CSS and SVG, no script, no external URL) and a short
Markdown preview for the Dagster UI."""

import base64
from datetime import datetime
from html import escape

from dataplat_reporting.charts import render_chart
from dataplat_reporting.report_sections import Shown

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f9fafb;color:#111827}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}
.meta{color:#6b7280;font-size:12px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px;margin-top:16px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{flex:1 1 140px;background:#fff;border:1px solid #e5e7eb;
border-radius:8px;padding:12px}.kpi b{display:block;font-size:18px}.kpi span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:4px 6px;border-bottom:1px solid #f3f4f6;
text-align:right}th:first-child,td:first-child{text-align:left}.note{color:#6b7280;font-size:12px}
figure.chart{margin:0}figure.chart svg{max-width:100%;height:auto}
"""


def render_table(shown: Shown) -> str:
    columns = shown.section.columns
    head = "".join(f"<th>{escape(c.label())}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c.show(row.get(c.column)))}</td>" for c in columns) + "</tr>"
        for row in shown.rows
    )
    return (
        f'<table data-table="{escape(shown.section.id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def render_section(shown: Shown) -> str:
    section = shown.section
    body = render_table(shown) if section.chart == "table" else render_chart(shown)
    notes = [n for n in (section.note, f"Source: {shown.source}" if shown.source else None) if n]
    return (
        f'<section id="{escape(section.id)}"><h2>{escape(section.title)}</h2>{body}'
        + "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
        + "</section>"
    )


def render_html(
    kpis: list[tuple[str, str]], sections: list[Shown], *, title: str, generated_at: datetime
) -> str:
    figures = "".join(f'<div class="kpi"><span>{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in kpis)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><p class="meta">Generated {escape(generated_at.isoformat(timespec="seconds"))}</p>'
        f'<div class="kpis">{figures}</div>{"".join(render_section(s) for s in sections)}</main></body></html>'
    )


def render_preview(kpis: list[tuple[str, str]], sections: list[Shown], path: str, rows: int = 5) -> str:
    """Markdown for the Dagster UI: the headline figures, then the first chart as an image and the first
    table's first rows."""
    lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in kpis)]
    chart = next((s for s in sections if s.section.chart != "table" and s.rows), None)
    if chart:
        svg = base64.b64encode(render_chart(chart).encode()).decode()
        lines += ["", f"![{chart.section.title}](data:image/svg+xml;base64,{svg})"]
    table = next((s for s in sections if s.section.chart == "table" and s.rows), None)
    if table:
        columns = table.section.columns
        lines += ["", f"**{table.section.title}**", "", "| " + " | ".join(c.label() for c in columns) + " |"]
        lines += ["|" + "---|" * len(columns)]
        lines += [
            "| " + " | ".join(c.show(r.get(c.column)) for c in columns) + " |" for r in table.rows[:rows]
        ]
    lines += ["", f"Full report: `{path}`"]
    return "\n".join(lines)
