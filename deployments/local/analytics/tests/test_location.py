"""The local analytics code location: loads, validates, and its marts read ingestion's tables by key."""

import dagster as dg
from dataplat_core.runner import load_definitions

MODULE = "dataplat_local_analytics.definitions"


def test_definitions_load_and_validate(platform_env):
    defs = load_definitions(MODULE)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["marts", "daily_revenue"]) in graph.materializable_asset_keys


def test_marts_depend_on_the_ingestion_location_across_the_boundary(platform_env):
    graph = load_definitions(MODULE).resolve_asset_graph()
    orders = dg.AssetKey(["raw_shop", "orders"])
    assert orders in graph.get(dg.AssetKey(["marts", "daily_revenue"])).parent_keys
    # Not materializable here: the ingestion location owns it, the UI draws the edge between locations.
    assert orders not in graph.materializable_asset_keys
