import warnings
from importlib.metadata import version

import dagster as dg
import pytest
from dataplat_core.definitions import platform_definitions, platform_versions
from dataplat_core.environment import MissingEnvironmentVariables
from pydantic import Field


def test_versions_of_installed_platform_packages_only():
    versions = platform_versions()
    assert versions["dataplat-core"] == version("dataplat-core")
    assert versions["dataplat-sandbox"] == version("dataplat-sandbox")  # the dev group installs it
    assert all(name.startswith("dataplat-") for name in versions)


def test_definitions_carry_resources_and_component_versions(local_env):
    @dg.asset(required_resource_keys={"warehouse"})
    def table(): ...

    defs = platform_definitions(dg.Definitions(assets=[table]))
    dg.Definitions.validate_loadable(defs)
    assert defs.metadata["version/dataplat-core"].value == version("dataplat-core")
    assert set(defs.resources) == {"warehouse", "artifacts"}  # core's own; core knows no source


class _Api(dg.ConfigurableResource):
    base_url: str
    token: str = Field(repr=False)


def test_a_location_lists_every_variable_it_reads_and_asks_for_the_missing_ones_at_once(
    local_env, provider, monkeypatch
):
    """Core's, the installed package's (`provider`) and those the composition's own resources name."""
    composition = dg.Definitions(
        resources={"carrier_api": _Api(base_url=dg.EnvVar("CARRIER_URL"), token=dg.EnvVar("CARRIER_TOKEN"))}
    )
    monkeypatch.delenv("CARRIER_URL", raising=False)
    monkeypatch.delenv("CARRIER_TOKEN", raising=False)
    with pytest.raises(MissingEnvironmentVariables) as missing:
        platform_definitions(composition)
    assert missing.value.missing == ["CARRIER_TOKEN", "CARRIER_URL", "ORDERS_DB_PASSWORD", "ORDERS_DB_PORT"]

    for name, value in {
        **provider.sources,
        "CARRIER_URL": "http://127.0.0.1:1",
        "CARRIER_TOKEN": "t",
    }.items():
        monkeypatch.setenv(name, value)
    defs = platform_definitions(composition)
    listed = {v["name"]: v for v in defs.metadata["dataplat/variables"].value}
    assert {"WAREHOUSE_DUCKDB_PATH", "ARTIFACTS_URL", "ORDERS_DB_HOST", "CARRIER_URL"} <= set(listed)
    assert "SNOWFLAKE_ACCOUNT" not in listed  # local runs on DuckDB
    assert listed["CARRIER_TOKEN"]["secret"] and not listed["CARRIER_URL"]["secret"]
    assert listed["ORDERS_DB_PASSWORD"]["secret"] and not listed["ALERT_WEBHOOK_URL"]["required"]
    assert {"orders_db", "orders_copy", "carrier_api"} <= set(defs.resources)


def test_every_materializable_asset_shows_the_versions(local_env):
    @dg.asset
    def table(): ...

    upstream = dg.AssetSpec("elsewhere")  # another code location's asset: not ours to annotate
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a framework warning would reach every location load and the demo
        defs = platform_definitions(dg.Definitions(assets=[table, upstream]))
    graph = defs.resolve_asset_graph()
    shown = graph.get(dg.AssetKey("table")).metadata["dataplat/versions"]
    assert f"dataplat-core {version('dataplat-core')}" in shown
    assert "dataplat/versions" not in graph.get(dg.AssetKey("elsewhere")).metadata


def test_every_code_location_gets_the_alert_sensors(local_env):
    defs = platform_definitions(dg.Definitions())
    names = {sensor.name for sensor in defs.sensors}
    assert {"alert_on_run_failure", "alert_on_failed_check"} <= names
