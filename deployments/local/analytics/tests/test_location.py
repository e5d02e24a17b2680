"""The local analytics code location: loads, validates, and its marts read ingestion's tables by key."""

import dagster as dg
from dataplat_core.runner import load_definitions
from dataplat_core.standards import asset_standard_problems

MODULE = "dataplat_local_analytics.definitions"


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
