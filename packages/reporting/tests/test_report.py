"""The report asset on real marts: the file, its metadata, and model quality only when metrics exist."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dataplat_core.observability import error_chain
from dataplat_reporting.report import REPORT_PATH_KEY
from shop_defs import REPORT_KEY, add_model_metrics, materialize_all, report_yaml, shop_defs

CHARTS = ("revenue", "refund_rate", "refund_rate_by_channel", "refund_rate_by_category", "top_products")


def _report(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (mat,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == REPORT_KEY
    ]
    return mat


def test_report_is_written_beside_the_warehouse_with_path_and_preview(shop_warehouse):
    with shop_defs() as defs:
        graph = defs.resolve_asset_graph()
        assert {k.path[-1] for k in graph.get(REPORT_KEY).parent_keys} >= {"daily_revenue", "top_products"}
        result = materialize_all(defs)
    assert result.success
    mat = _report(result)
    path = Path(mat.metadata[REPORT_PATH_KEY].value)
    assert path == shop_warehouse.parent / "reports" / "shop_report.html"
    html = path.read_text()
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in html
    assert 'data-chart="model_quality"' not in html and "Model quality" not in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    preview = mat.metadata["preview"].value
    assert "| Revenue | €" in preview and "data:image/svg+xml;base64," in preview
    assert mat.metadata["model_quality"].value == "not available"
    # The top product in the preview is the mart's rank 1.
    with duckdb.connect(str(shop_warehouse), read_only=True) as wh:
        (name,) = wh.execute("select product_name from marts.top_products where product_rank = 1").fetchone()
    assert f"| 1 | {name} |" in preview


def test_model_quality_comes_from_the_metrics_table_when_there_is_one(shop_warehouse, tmp_path):
    add_model_metrics(shop_warehouse)
    out = tmp_path / "elsewhere"
    with shop_defs(report=report_yaml(output_dir=str(out), file_name="r.html")) as defs:
        result = materialize_all(defs)
    mat = _report(result)
    assert mat.metadata[REPORT_PATH_KEY].value == str(out / "r.html")
    html = (out / "r.html").read_text()
    assert 'data-chart="model_quality"' in html and "0.7312" in html and "0.61" not in html
    assert mat.metadata["model_quality"].value == "table ml.model_metrics"


def test_model_quality_falls_back_to_the_training_assets_metadata(shop_warehouse):
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            dg.AssetKey(["ml", "refund_model"]), metadata={"roc_auc": 0.705, "rows": 1600}
        )
    )
    report = report_yaml(model_quality={"table": "ml.model_metrics", "asset_key": "ml/refund_model"})
    with shop_defs(report=report) as defs:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[k for k in job.asset_layer.selected_asset_keys if k.path[0] != "ml"],
        )
    mat = _report(result)
    assert mat.metadata["model_quality"].value == "latest materialization of ml/refund_model"
    assert "0.705" in Path(mat.metadata[REPORT_PATH_KEY].value).read_text()


@pytest.mark.parametrize("bad", ["../x.html", "report.txt"])
def test_report_file_name_must_be_a_plain_html_name(bad, platform_env):
    with pytest.raises(Exception) as info, shop_defs(report=report_yaml(file_name=bad)):
        pass
    # Dagster wraps the validation error of the component
    assert any("file_name must be a plain *.html file name" in str(e) for e in error_chain(info.value))
