"""`upstream_changed()` and the runner's automation plan, on a real (temporary) Dagster instance: analytics
follows a loader in another code location once per change of the loader's data, and not for a load that moved
nothing; the declared sensor runs by default."""

import io
import sys
from pathlib import Path

import dagster as dg
import pytest
from dataplat_core.automation import SENSOR_NAME, automation_sensor, upstream_changed
from dataplat_core.definitions import platform_definitions
from dataplat_core.runner import load_definitions, materialize_all

sys.path.insert(0, str(Path(__file__).parent))
import automation_defs  # noqa: E402


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _run(instance, location: str) -> tuple[dict, str]:
    out = io.StringIO()
    defs = load_definitions("automation_defs", location)
    outcomes = materialize_all(defs, instance, location, out=out)
    return {o.asset: o for o in outcomes}, out.getvalue()


def _load(instance, rows: int, newest: str, new_rows: int) -> dict:
    automation_defs.SOURCE.update(rows=rows, newest=newest, new_rows=new_rows)
    return _run(instance, "loader")[0]


def _materializations(instance, key: str) -> int:
    return len(instance.fetch_materializations(dg.AssetKey.from_user_string(key), limit=100).records)


def test_analytics_runs_once_per_change_of_the_loaded_data_and_says_why_it_skips(instance):
    _load(instance, 10, "2026-01-10", 10)
    first, _ = _run(instance, "analytics")  # no cursor yet: everything runs
    assert {first[k].status for k in ("marts/daily", "reports/report")} == {"materialized"}

    loaded = _load(instance, 10, "2026-01-10", 0)  # nothing new: same data version
    assert (loaded["raw/orders"].status, loaded["raw/orders"].reason) == (
        "unchanged",
        "nothing new in the source",
    )
    quiet, progress = _run(instance, "analytics")
    for key in ("marts/daily", "reports/report"):
        assert quiet[key].status == "skipped" and quiet[key].ok
        assert quiet[key].reason.startswith("no upstream's data changed since its last materialization")
    assert "skip marts/daily: no upstream's data changed" in progress
    assert (_materializations(instance, "marts/daily"), _materializations(instance, "reports/report")) == (
        1,
        1,
    )

    _load(instance, 11, "2026-01-11", 1)  # one new row: a new data version
    changed, _ = _run(instance, "analytics")
    assert {changed[k].status for k in ("marts/daily", "reports/report")} == {"materialized"}
    # The report ran with the mart in one run: the mart's new version does not request the report again.
    _load(instance, 11, "2026-01-11", 0)
    again, _ = _run(instance, "analytics")
    assert {again[k].status for k in ("marts/daily", "reports/report")} == {"skipped"}
    assert (_materializations(instance, "marts/daily"), _materializations(instance, "reports/report")) == (
        2,
        2,
    )


def test_a_failed_run_keeps_the_cursor_so_the_change_is_evaluated_again(instance):
    _load(instance, 10, "2026-01-10", 10)
    _run(instance, "analytics")
    _load(instance, 12, "2026-01-12", 2)

    @dg.asset(
        key=automation_defs.DAILY, deps=[automation_defs.ORDERS], automation_condition=upstream_changed()
    )
    def daily():
        raise RuntimeError("the mart's SQL failed")

    failing = dg.Definitions(assets=[dg.AssetSpec(automation_defs.ORDERS), daily, automation_defs.report])
    outcomes = {o.asset: o for o in materialize_all(failing, instance, "analytics", out=io.StringIO())}
    assert outcomes["marts/daily"].status == "failed"
    retried, _ = _run(instance, "analytics")  # the same change is still new to the analytics location
    assert {retried[k].status for k in ("marts/daily", "reports/report")} == {"materialized"}


def test_the_declared_sensor_runs_by_default_and_targets_the_assets_with_a_condition():
    sensor = automation_sensor(load_definitions("automation_defs", "analytics"))
    assert sensor is not None and sensor.name == SENSOR_NAME
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = load_definitions("automation_defs", "analytics").resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == {automation_defs.DAILY, automation_defs.REPORT}
    assert automation_sensor(load_definitions("automation_defs", "loader")) is None


def test_platform_definitions_add_the_sensor_only_where_a_condition_is_declared(local_env):
    analytics = platform_definitions(dg.Definitions(assets=[automation_defs.daily]))
    loader = platform_definitions(dg.Definitions(assets=[automation_defs.orders]))
    assert SENSOR_NAME in {s.name for s in analytics.sensors}
    assert SENSOR_NAME not in {s.name for s in loader.sensors}
