"""The local analytics code location: loads, validates, and its marts read ingestion's tables by key."""

from pathlib import Path

import dagster as dg
from dataplat_core.runner import load_definitions
from dataplat_core.standards import asset_standard_problems

MODULE = "dataplat_local_analytics.definitions"
DEPLOYMENT = Path(__file__).resolve().parents[1]
DOCS = DEPLOYMENT.parents[2] / "docs" / "environments.md"


def test_definitions_load_and_validate(platform_env):
    defs = load_definitions(MODULE)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["marts", "daily_revenue"]) in graph.materializable_asset_keys


def test_every_asset_has_owners_description_kinds_tags_yaml_link_and_its_tiers_checks(platform_env):
    """The UI explains each asset: dataplat_core.standards (owners, description, kinds, domain and tier tags,
    a link to the YAML that declares it, and the checks its tier requires)."""
    assert asset_standard_problems(load_definitions(MODULE)) == []


def test_marts_depend_on_the_ingestion_location_across_the_boundary(platform_env):
    graph = load_definitions(MODULE).resolve_asset_graph()
    orders = dg.AssetKey(["raw_shop", "orders"])
    assert orders in graph.get(dg.AssetKey(["marts", "daily_revenue"])).parent_keys
    # Not materializable here: the ingestion location owns it, the UI draws the edge between locations.
    assert orders not in graph.materializable_asset_keys


def test_every_asset_follows_its_upstreams_by_automation_and_the_sensor_runs(platform_env):
    """Analytics follows ingestion by Declarative Automation (#14): every asset declares `upstream_changed()`
    (YAML or the ML component), and the location's own automation sensor runs by default."""
    from dataplat_core.automation import SENSOR_NAME, upstream_changed

    defs = load_definitions(MODULE)
    graph = defs.resolve_asset_graph()
    assert {
        k.to_user_string(): graph.get(k).automation_condition for k in graph.materializable_asset_keys
    } == {k.to_user_string(): upstream_changed() for k in graph.materializable_asset_keys}
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(graph) == set(graph.materializable_asset_keys)


def test_the_location_asks_for_no_source_variable(monkeypatch, tmp_path):
    """Its packages provide no resource: it reads core's variables only (and locally each has a default), not
    the ingestion sources' that snowflake_ingestion brings."""
    import os

    for name in [
        n for n in os.environ if n.startswith(("SOURCE_PG_", "PAYMENTS_API_", "SHIPMENTS_API_", "LANDING_"))
    ]:
        monkeypatch.delenv(name)
    for name in ("PLATFORM_ENV", "WAREHOUSE_DUCKDB_PATH", "DATAPLAT_STATE_DIR", "ARTIFACTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    defs = load_definitions(MODULE)
    assert set(defs.resources) == {"warehouse", "artifacts"}
    listed = {v["name"] for v in defs.metadata["dataplat/variables"].value}
    assert listed == {
        "WAREHOUSE_DUCKDB_PATH",
        "DATAPLAT_STATE_DIR",
        "ARTIFACTS_URL",
        "WAREHOUSE_LOCK_TIMEOUT_S",
        "ALERT_WEBHOOK_URL",
    }


def test_the_variable_table_in_the_docs_is_the_one_the_code_declares():
    """docs/environments.md's table for this location is generated (`dataplat_core.variables_doc`)."""
    from dataplat_core.variables_doc import stale

    assert stale(DEPLOYMENT, DOCS) is None


def test_a_table_that_differs_from_the_code_is_refused_naming_the_fix(tmp_path):
    from dataplat_core.variables_doc import stale

    head, marker, block = DOCS.read_text().partition("<!-- variables:analytics -->")
    edited = tmp_path / "environments.md"
    edited.write_text(
        head + marker + block.replace("| `ARTIFACTS_URL` | dataplat-core |", "| `ARTIFACTS_URL` | me |", 1)
    )
    assert "analytics location's variable table differs from the code; run `python -m dataplat_core" in stale(
        DEPLOYMENT, edited
    )
    edited.write_text(head)
    assert "has no block for it" in stale(DEPLOYMENT, edited)
