import dagster as dg
import pytest
from dagster_sling import SlingResource
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.environment import LOCAL_SPEC, InvalidEnvironment, MissingEnvironmentVariables
from dataplat_core.resources import build_resources


def test_local_resources_are_built_from_the_environment(local_env, tmp_path):
    resources = build_resources(LOCAL_SPEC)
    assert set(resources) == {"warehouse", "artifacts", "source_postgres", "landing", "payments_api", "sling"}
    assert isinstance(resources["warehouse"], WarehouseDuckDB)
    assert resources["warehouse"].database == str(tmp_path / "w" / "warehouse.duckdb")
    assert (tmp_path / "w").is_dir()
    assert isinstance(resources["sling"], SlingResource)
    assert {c.name for c in resources["sling"].connections} == {"SOURCE_PG", "WAREHOUSE"}
    target = next(c for c in resources["sling"].connections if c.name == "WAREHOUSE")
    assert (target.type, target.instance) == ("duckdb", resources["warehouse"].database)
    assert resources["artifacts"].url == dg.EnvVar("ARTIFACTS_URL")  # read by the run worker


def test_secrets_stay_environment_references(local_env):
    resources = build_resources(LOCAL_SPEC)
    # Unresolved until a run initializes the resource: the value is never part of the definitions.
    assert resources["source_postgres"].password == dg.EnvVar("SOURCE_PG_PASSWORD")
    assert resources["payments_api"].token == dg.EnvVar("PAYMENTS_API_TOKEN")
    assert "pw" not in repr(resources) and "tok" not in repr(resources)


def test_resources_resolve_the_environment_when_initialised(local_env):
    seen = {}

    @dg.asset(required_resource_keys={"source_postgres", "payments_api"})
    def probe(context):
        seen["port"] = context.resources.source_postgres.port
        seen["token"] = context.resources.payments_api.token

    assert dg.materialize([probe], resources=build_resources(LOCAL_SPEC)).success
    assert seen == {"port": 5433, "token": "tok"}


def test_missing_environment_fails_before_anything_is_built(local_env, monkeypatch):
    for name in local_env:
        monkeypatch.delenv(name)
    with pytest.raises(MissingEnvironmentVariables):
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
