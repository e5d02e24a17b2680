import warnings
from importlib.metadata import version

import dagster as dg
from dataplat_core.definitions import platform_definitions, platform_versions


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
    assert {"warehouse", "sling", "source_postgres", "landing", "payments_api"} <= set(defs.resources)


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
