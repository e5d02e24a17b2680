import dagster as dg
import pytest
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.environment import LOCAL_SPEC, InvalidEnvironment, MissingEnvironmentVariables
from dataplat_core.resources import build_resources
from dataplat_core.variables import ResourceConflict


def test_local_resources_are_built_from_the_environment(local_env, tmp_path):
    resources = build_resources(LOCAL_SPEC)
    assert set(resources) == {"warehouse", "artifacts"}  # core's own: core knows no source
    assert isinstance(resources["warehouse"], WarehouseDuckDB)
    assert resources["warehouse"].database == str(tmp_path / "w" / "warehouse.duckdb")
    assert (tmp_path / "w").is_dir()
    assert resources["artifacts"].url == dg.EnvVar("ARTIFACTS_URL")  # read by the run worker


def test_an_installed_package_provides_its_resources_built_after_those_they_need(
    local_env, provider, monkeypatch
):
    for name, value in provider.sources.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(LOCAL_SPEC)
    assert set(resources) == {"warehouse", "artifacts", "orders_db", "orders_copy"}
    assert resources["orders_copy"].source is resources["orders_db"]
    assert resources["orders_copy"].warehouse is resources["warehouse"]


def test_secrets_stay_environment_references(local_env, provider, monkeypatch):
    for name, value in provider.sources.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(LOCAL_SPEC)
    # Unresolved until a run initializes the resource: the value is never part of the definitions.
    assert resources["orders_db"].password == dg.EnvVar("ORDERS_DB_PASSWORD")
    assert "pw" not in repr(resources)


def test_resources_resolve_the_environment_when_initialised(local_env, provider, monkeypatch):
    for name, value in provider.sources.items():
        monkeypatch.setenv(name, value)
    seen = {}

    @dg.asset(required_resource_keys={"orders_db"})
    def probe(context):
        seen["port"] = context.resources.orders_db.port
        seen["password"] = context.resources.orders_db.password

    assert dg.materialize([probe], resources=build_resources(LOCAL_SPEC)).success
    assert seen == {"port": 5433, "password": "pw"}


def test_missing_environment_fails_before_anything_is_built(local_env, provider, tmp_path):
    with pytest.raises(MissingEnvironmentVariables) as info:
        build_resources(LOCAL_SPEC)
    assert info.value.missing == ["ORDERS_DB_PASSWORD", "ORDERS_DB_PORT"]
    assert not (tmp_path / "w").exists()


def test_two_packages_providing_one_key_refuse_the_load(local_env, provider):
    provider.install("copied_provider")
    with pytest.raises(
        ResourceConflict,
        match="the resource 'orders_copy' is provided by both (copied|orders)_provider and (copied|orders)_provider",
    ):
        build_resources(LOCAL_SPEC)


@pytest.mark.parametrize("variable", ["WAREHOUSE_DUCKDB_PATH", "DATAPLAT_STATE_DIR"])
def test_an_uncreatable_folder_fails_naming_the_variable_and_the_fix(
    local_env, monkeypatch, tmp_path, variable
):
    """A path under a regular file cannot be created (the same message covers a folder this user cannot write;
    as root every folder is writable, so a test cannot show that case here)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(variable, str(blocker / "sub" / "warehouse.duckdb"))
    with pytest.raises(InvalidEnvironment) as info:
        build_resources()
    message = str(info.value)
    assert message.startswith(f"{variable}={blocker}/sub/warehouse.duckdb: the folder ")
    assert f"Point {variable} at a folder this user can write" in message
