"""`RestApiConnectionComponent`: an API's connection declared in YAML by environment variable names, bound to a
declared API and loaded from the real shipments simulator; its values never reach the definitions."""

import dagster as dg
import pytest
from conftest import api_rows, attributes, component_defs
from dataplat_api_sources.components import RestApiConnectionComponent
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.observability import error_chain
from dataplat_core.testing import declared_component

CONNECTION = {"key": "shipments_api", "base_url_env": "CARRIER_URL", "api_key_env": "CARRIER_KEY"}


def test_the_connection_holds_environment_variable_names_not_values(monkeypatch):
    monkeypatch.setenv("CARRIER_KEY", "s3cret-key-value")
    with declared_component(RestApiConnectionComponent, CONNECTION, platform_resources=False) as (_, defs):
        resource = defs.resources["shipments_api"]
        assert isinstance(resource.api_key, dg.EnvVar) and resource.api_key.env_var_name == "CARRIER_KEY"
        assert isinstance(resource.base_url, dg.EnvVar) and resource.token is None
        assert "s3cret-key-value" not in repr(defs.resources)


def test_a_declared_connection_and_a_declared_api_load_every_row(shipments_api, monkeypatch, tmp_path):
    monkeypatch.setenv("CARRIER_URL", shipments_api.url)
    monkeypatch.setenv("CARRIER_KEY", shipments_api.api_key)
    with (
        declared_component(RestApiConnectionComponent, CONNECTION, platform_resources=False) as (
            _,
            connection,
        ),
        component_defs(attributes("shipments", only=["shipments"])) as (component, api),
    ):
        assert component.client.resource == CONNECTION["key"]
        warehouse = dg.Definitions(
            resources={"warehouse": WarehouseDuckDB(database=str(tmp_path / "w.duckdb"))}
        )
        defs = dg.Definitions.merge(connection, api, warehouse)
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)
        assert result.success
        with defs.resources["warehouse"].get_connection() as conn:
            loaded = conn.execute(f"select count(*) from {component.dataset}.shipments").fetchone()[0]
    assert loaded == len(api_rows(shipments_api, "shipments")) > 0


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (
            {**CONNECTION, "username_env": "CARRIER_USER"},
            "http_basic needs both username_env and password_env",
        ),
        ({**CONNECTION, "api_key_env": "carrier-key"}, "String should match pattern"),
        ({**CONNECTION, "key": "Shipments API"}, "String should match pattern"),
    ],
)
def test_a_wrong_connection_is_refused_when_the_location_loads(config, said):
    with pytest.raises(Exception) as info:
        with declared_component(RestApiConnectionComponent, config, platform_resources=False):
            pass
    assert any(said in str(e) for e in error_chain(info.value)), [str(e) for e in error_chain(info.value)]
