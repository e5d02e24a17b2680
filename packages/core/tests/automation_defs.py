"""Two code locations for test_automation.py: `loader` loads a table and reports its data version the way the
platform's loaders do (`table_version`); `analytics` holds a mart and a report on it that follow the loader by
`upstream_changed()`, and refers to the loader's table by key only, as the analytics location does."""

import dagster as dg
from dataplat_core.automation import upstream_changed
from dataplat_core.observability import load_metadata

ORDERS, DAILY, REPORT = (
    dg.AssetKey(["raw", "orders"]),
    dg.AssetKey(["marts", "daily"]),
    dg.AssetKey(["reports", "report"]),
)
# What the source holds now; the tests change it between runs.
SOURCE = {"rows": 10, "newest": "2026-01-10", "new_rows": 10}


@dg.asset(key=ORDERS)
def orders() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata=load_metadata(rows_read=SOURCE["new_rows"], rows_loaded=SOURCE["new_rows"]),
        data_version=dg.DataVersion(f"rows={SOURCE['rows']};newest={SOURCE['newest']}"),
    )


@dg.asset(key=DAILY, deps=[ORDERS], automation_condition=upstream_changed())
def daily() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset(key=REPORT, deps=[daily], automation_condition=upstream_changed())
def report() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.definitions
def loader() -> dg.Definitions:
    return dg.Definitions(assets=[orders])


@dg.definitions
def analytics() -> dg.Definitions:
    return dg.Definitions(assets=[dg.AssetSpec(ORDERS), daily, report])
