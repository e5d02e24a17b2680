"""The report asset on real marts, as the analytics composition declares it: the file, its metadata, sections
that say what they show (one unit per chart, axis titles, thousands separators), model quality only when
metrics exist, and a new mart shown by declaring one section."""

import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dataplat_core.observability import error_chain
from dataplat_reporting.report import REPORT_PATH_KEY
from shop_defs import CHARTS as DECLARED_CHARTS
from shop_defs import REPORT_KEY, add_model_metrics, materialize_all, report_yaml, shop_defs

CHARTS = [c for c in DECLARED_CHARTS if c != "model_quality"]  # model quality: only with metrics


def _report(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (mat,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == REPORT_KEY
    ]
    return mat


def _text(html: str) -> str:
    """What a reader sees: the text of the page and of its charts (matplotlib keeps text as <text>)."""
    return re.sub(r"<[^>]+>", " ", html)


def test_report_is_written_to_the_platforms_artifacts_with_path_and_preview(shop_warehouse, platform_env):
    with shop_defs() as defs:
        graph = defs.resolve_asset_graph()
        assert {k.path[-1] for k in graph.get(REPORT_KEY).parent_keys} >= {"daily_revenue", "top_products"}
        result = materialize_all(defs)
    assert result.success
    mat = _report(result)
    path = Path(mat.metadata[REPORT_PATH_KEY].value)
    assert path == Path(platform_env["ARTIFACTS_URL"]) / "reports" / "shop_report.html"
    html = path.read_text()
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in html and f'id="mark-{chart}-0' in html, chart
    assert 'data-chart="model_quality"' not in html and "Refund model quality" not in html
    # Nothing to run or fetch: no script, and no URL but the names of the SVG namespaces.
    assert "<script" not in html and "://" not in re.sub(r'xmlns(:\w+)?="[^"]+"', "", html)
    assert mat.metadata["left_out"].value == "model_quality"
    preview = mat.metadata["preview"].value
    assert "| Revenue | " in preview and " EUR |" in preview and "data:image/svg+xml;base64," in preview
    # The first table's first row in the preview is the mart's rank 1.
    with duckdb.connect(str(shop_warehouse), read_only=True) as wh:
        (name,) = wh.execute("select product_name from marts.top_products where product_rank = 1").fetchone()
        (revenue,) = wh.execute("select sum(revenue) from marts.daily_revenue").fetchone()
    assert f"| 1 | {name} |" in preview
    assert f"| Revenue | {float(revenue):,.0f} EUR |" in preview


def test_every_chart_has_axis_titles_with_one_unit_and_numbers_with_thousands_separators(shop_warehouse):
    with shop_defs() as defs:
        html = Path(_report(materialize_all(defs)).metadata[REPORT_PATH_KEY].value).read_text()
    text = _text(html)
    for title in (
        "Revenue (EUR)",
        "Order day (UTC)",
        "Refunded orders (share of the day's orders)",
        "Line revenue (EUR)",
        "Months since signup",
        "Signup month",
    ):
        assert title.replace("'", "&#x27;") in text or title.replace("'", "&#39;") in text or title in text, (
            title
        )
    assert not re.search(r"\d\.\d+e[+-]\d", text), "a number in scientific notation"
    revenue_ticks = re.findall(r"\b\d{1,3}(?:,\d{3})+\b", text)
    assert revenue_ticks, "no number with a thousands separator"
    assert re.search(r"\d+\.\d%", text), "no share shown as a percentage"


def test_the_cohort_heatmap_has_a_row_for_each_cohort_with_orders_and_no_empty_row(shop_warehouse):
    with shop_defs() as defs:
        html = Path(_report(materialize_all(defs)).metadata[REPORT_PATH_KEY].value).read_text()
    with duckdb.connect(str(shop_warehouse), read_only=True) as wh:
        expected = wh.execute(
            "select strftime(cohort_month, '%Y-%m'), count(*) from marts.customer_cohorts "
            "where months_since_signup between 0 and 5 "
            "and cohort_month > (select max(cohort_month) from marts.customer_cohorts) - interval 12 month "
            "group by 1 order by 1"
        ).fetchall()
    cells = re.findall(r'id="mark-cohorts-(\d+)-(\d+)"', html)
    rows = sorted({int(i) for i, _ in cells})
    assert rows == list(range(len(expected))), "every drawn row holds at least one cell"
    assert len(cells) == sum(n for _, n in expected)
    for month, _ in expected:
        assert f">{month}<" in html or f"> {month} <" in _text(html) or month in _text(html)


def test_a_new_mart_appears_in_the_report_by_declaring_one_section(shop_warehouse):
    orders_per_day = {
        "title": "Orders per day",
        "table": "marts.daily_revenue",
        "sql": "select order_date, orders from $table order by order_date",
        "chart": "line",
        "x": {"column": "order_date", "title": "Order day (UTC)"},
        "y": {"column": "orders", "title": "Orders", "unit": "orders"},
    }
    with shop_defs(report=report_yaml(sections={"orders_per_day": orders_per_day})) as defs:
        html = Path(_report(materialize_all(defs)).metadata[REPORT_PATH_KEY].value).read_text()
    with duckdb.connect(str(shop_warehouse), read_only=True) as wh:
        (days,) = wh.execute("select count(*) from marts.daily_revenue").fetchone()
    assert 'data-chart="orders_per_day"' in html and "Orders (orders)" in _text(html)
    assert len(re.findall(r'id="mark-orders_per_day-\d+"', html)) == days  # one point per day


def test_model_quality_comes_from_the_metrics_table_when_there_is_one(shop_warehouse, tmp_path):
    add_model_metrics(shop_warehouse)
    out = tmp_path / "elsewhere"
    metrics = {
        "table": "ml.model_metrics",
        "asset_key": "ml/refund_model",
        "names": ["roc_auc", "precision", "recall"],
    }
    report = report_yaml(
        output_dir=str(out), file_name="r.html", sections={"model_quality": {"metrics": metrics}}
    )
    with shop_defs(report=report) as defs:
        result = materialize_all(defs)
    mat = _report(result)
    assert mat.metadata[REPORT_PATH_KEY].value == str(out / "r.html")
    html = (out / "r.html").read_text()
    assert 'data-chart="model_quality"' in html and "0.731" in html and "0.610" not in html
    assert "Source: table ml.model_metrics" in html
    assert "1612" not in html and "1,612" not in html  # training_rows: not a score, not on this chart


def test_model_quality_falls_back_to_the_training_assets_metadata(shop_warehouse):
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            dg.AssetKey(["ml", "refund_model"]),
            metadata={"roc_auc": 0.705, "train_rows": 13020, "training_seconds": 2.5},
        )
    )
    with shop_defs() as defs:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[k for k in job.asset_layer.selected_asset_keys if k.path[0] != "ml"],
        )
    mat = _report(result)
    html = Path(mat.metadata[REPORT_PATH_KEY].value).read_text()
    assert "0.705" in html and "Source: latest materialization of ml/refund_model" in html
    assert "13020" not in html and "1.302e" not in html and "training_seconds" not in html


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ({"y": {"column": "no_such_column"}}, "its query has no column no_such_column"),
        ({"sql": "select * from $orders"}, "its SQL may use only $table"),
        ({"sql": "drop table marts.daily_revenue"}, "is a SELECT, not DROP"),
        ({"chart": "heatmap"}, "a heatmap needs value"),
    ],
)
def test_a_wrong_section_fails_naming_the_section_and_what_is_wrong(shop_warehouse, section, said):
    report = report_yaml(sections={"revenue": section})
    with pytest.raises(Exception) as info:
        with shop_defs(report=report) as defs:
            materialize_all(defs)
    chain = " ".join(str(e) for e in error_chain(info.value))
    assert said in chain and "revenue" in chain, chain[-2000:]


@pytest.mark.parametrize("bad", ["../x.html", "report.txt"])
def test_report_file_name_must_be_a_plain_html_name(bad, platform_env):
    with pytest.raises(Exception) as info, shop_defs(report=report_yaml(file_name=bad)):
        pass
    # Dagster wraps the validation error of the component
    assert any("file_name must be a plain *.html file name" in str(e) for e in error_chain(info.value))
