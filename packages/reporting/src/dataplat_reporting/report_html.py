"""The report as one self-contained HTML file (inline CSS and SVG, no script, no external URL) and a short
Markdown preview for the Dagster UI."""

import base64
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from dataplat_reporting.charts import bar_chart, line_chart
from dataplat_reporting.report_data import ReportData

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f9fafb;color:#111827}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:14px;margin:16px 0 4px}
.meta{color:#6b7280;font-size:12px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px;margin-top:16px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{flex:1 1 140px;background:#fff;border:1px solid #e5e7eb;
border-radius:8px;padding:12px}.kpi b{display:block;font-size:18px}.kpi span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:4px 6px;border-bottom:1px solid #f3f4f6;
text-align:right}th:first-child,td:first-child{text-align:left}.note{color:#6b7280;font-size:12px}
svg.chart{max-width:100%;height:auto}
"""


def _money(v: float) -> str:
    return f"€{v:,.0f}"


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], css_class: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def revenue_chart(data: ReportData) -> str:
    return line_chart(
        "revenue", "Revenue per day", [d for d, _, _ in data.revenue], [("revenue", [r for _, r, _ in data.revenue])],
        fmt=_money,
    )  # fmt: skip


def _cohort_table(cohorts: list[dict[str, Any]], last: int = 12, months: int = 6) -> str:
    """Orders per customer of the newest cohorts by months since signup, shaded by intensity."""
    by_cohort: dict[str, dict[int, dict[str, Any]]] = {}
    for row in cohorts:
        by_cohort.setdefault(str(row["cohort_month"])[:7], {})[int(row["months_since_signup"])] = row
    keys = sorted(by_cohort)[-last:]
    values = [
        float(r["orders"]) / max(int(r["cohort_customers"]), 1) for k in keys for r in by_cohort[k].values()
    ]
    top = max(values, default=1) or 1
    head = "".join(f"<th>+{m}</th>" for m in range(months))
    rows = []
    for k in keys:
        size = max((int(r["cohort_customers"]) for r in by_cohort[k].values()), default=0)
        cells = []
        for m in range(months):
            row = by_cohort[k].get(m)
            if row is None:
                cells.append("<td></td>")
                continue
            v = float(row["orders"]) / max(int(row["cohort_customers"]), 1)
            cells.append(f'<td style="background:rgba(37,99,235,{0.1 + 0.8 * v / top:.2f})">{v:.2f}</td>')
        rows.append(f"<tr><td>{escape(k)}</td><td>{size:,}</td>{''.join(cells)}</tr>")
    return (
        '<table class="cohorts"><thead><tr><th>signup month</th><th>customers</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(data: ReportData, *, title: str, generated_at: datetime) -> str:
    kpis = "".join(
        f'<div class="kpi"><span>{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in data.kpis().items()
    )
    refund_line = line_chart(
        "refund_rate", "Refund rate per order day", [d for d, _ in data.refund_daily],
        [("refund rate", [r for _, r in data.refund_daily])], fmt=_pct,
    )  # fmt: skip
    segments = "".join(
        f"<h3>By {escape(dim)}</h3>"
        + bar_chart(
            f"refund_rate_by_{dim}",
            f"Refund rate by {dim}",
            [s for s, _, _ in rows],
            [r for _, r, _ in rows],
            fmt=_pct,
        )
        for dim, rows in sorted(data.refund_segments.items())
    )
    top = data.top_products
    products = bar_chart(
        "top_products",
        "Top products by revenue",
        [f"{p['product_name']} ({p['sku']})" for p in top],
        [float(p["revenue"]) for p in top],
        fmt=_money,
    )
    sections = [
        f'<section id="revenue"><h2>Revenue trend</h2>{revenue_chart(data)}</section>',
        f'<section id="refunds"><h2>Refund rate</h2>{refund_line}{segments}</section>',
        f'<section id="products"><h2>Top {len(top)} products</h2>{products}</section>',
    ]
    if data.cohorts:
        sections.append(
            '<section id="cohorts"><h2>Customer cohorts</h2><p class="note">Orders per customer of each signup '
            f"month's cohort, by months since signup (newest cohorts).</p>{_cohort_table(data.cohorts)}</section>"
        )
    if data.model and data.model.metrics:
        rates = {k: v for k, v in data.model.metrics.items() if 0 <= v <= 1}
        chart = (
            bar_chart("model_quality", "Model quality", list(rates), list(rates.values()), fmt=lambda v: f"{v:.3f}", max_value=1)
            if rates
            else ""
        )  # fmt: skip
        table = _table(["metric", "value"], [(k, f"{v:,.4g}") for k, v in data.model.metrics.items()])
        sections.append(
            f'<section id="model"><h2>Model quality</h2>{chart}{table}'
            f'<p class="note">Source: {escape(data.model.source)}</p></section>'
        )
    if data.health:
        rows = [
            (h["source"], h["days"], f"{int(h['rows_loaded']):,}", f"{int(h['rows_rejected']):,}", str(h["last_day"])[:10])
            for h in data.health
        ]  # fmt: skip
        sections.append(
            '<section id="health"><h2>Pipeline health</h2>'
            + _table(["source", "days", "rows loaded", "rows rejected", "last day"], rows)
            + "</section>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><p class="meta">Generated {escape(generated_at.isoformat(timespec="seconds"))}</p>'
        f'<div class="kpis">{kpis}</div>{"".join(sections)}</main></body></html>'
    )


def render_preview(data: ReportData, path: str) -> str:
    """Markdown for the Dagster UI: the key figures, the top products and the revenue chart as an image."""
    lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in data.kpis().items())]
    lines += ["", "| # | product | revenue |", "|---|---|---|"]
    lines += [
        f"| {p['product_rank']} | {p['product_name']} | €{float(p['revenue']):,.2f} |"
        for p in data.top_products[:5]
    ]
    svg = base64.b64encode(revenue_chart(data).encode()).decode()
    lines += ["", f"![Revenue per day](data:image/svg+xml;base64,{svg})", "", f"Full report: `{path}`"]
    return "\n".join(lines)
