"""Headless Chromium opens the generated report and every chart has rendered with data; a screenshot is kept
under packages/reporting/test-artifacts/ for a human to look at."""

from pathlib import Path

from shop_defs import CHARTS, REPORT_KEY, add_model_metrics, materialize_all, report_yaml, shop_defs

EXPECTED_CHARTS = set(CHARTS)  # every chart the report declares, model quality included (metrics given)
# Per chart: its rendered size and how many data marks (points, bars, cells; a line's own group excluded)
# the browser laid out with a size.
MEASURE = """
return Array.from(document.querySelectorAll('figure.chart')).map(figure => {
  const box = figure.querySelector('svg').getBoundingClientRect();
  const id = figure.dataset.chart;
  const marks = Array.from(figure.querySelectorAll(`[id^="mark-${id}-"]:not([id$="-line"])`)).filter(m => {
    const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0;
  });
  return {id: id, width: box.width, height: box.height, marks: marks.length};
});
"""


def test_every_chart_renders_in_chromium(chromium, shop_warehouse, artifacts_dir, tmp_path):
    from dataplat_sandbox.browser import HEADLESS_FLAGS
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    add_model_metrics(shop_warehouse)
    metrics = {"table": "ml.model_metrics", "names": ["roc_auc", "precision", "recall"]}
    report = report_yaml(
        output_dir=str(tmp_path / "reports"), sections={"model_quality": {"metrics": metrics}}
    )
    with shop_defs(report=report) as defs:
        result = materialize_all(defs)
    (mat,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == REPORT_KEY
    ]
    path = Path(mat.metadata["report_path"].value)

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for flag in (*HEADLESS_FLAGS, "--window-size=1000,2400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromium.driver)))
    try:
        driver.get(path.as_uri())
        charts = {c["id"]: c for c in driver.execute_script(MEASURE)}
        assert set(charts) == EXPECTED_CHARTS
        for chart in charts.values():
            assert chart["width"] > 100 and chart["height"] > 50, chart
            assert chart["marks"] > 0, chart
        assert charts["top_products"]["marks"] == 10
        assert charts["revenue"]["marks"] == 14  # one point per day of the sandbox's data
        assert charts["model_quality"]["marks"] == 3
        rows = "return document.querySelectorAll('table[data-table=\"top_products_table\"] tbody tr').length"
        assert driver.execute_script(rows) == 10
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1000, min(height + 40, 8000))
        screenshot = artifacts_dir / "shop_report.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 20_000
    finally:
        driver.quit()
