import subprocess
import sys

import dagster as dg
import pytest
from dataplat_core.environment import (
    LOCAL,
    LOCAL_SPEC,
    EnvironmentMismatch,
    EnvironmentSpec,
    InvalidEnvironment,
    MissingEnvironmentVariables,
    core_variables,
    current_environment,
    deployment_environment,
    load_settings,
)
from dataplat_core.resources import variables_of
from dataplat_core.variables import Variable

# An environment as its deployment folder declares it (deployments/prod/platform.yaml has the same shape).
SNOWFLAKE_ENV = EnvironmentSpec(
    "prod", "snowflake", {"SOURCE_PG_SSLMODE": "require", "DATAPLAT_STATE_DIR": "{data_home}/dataplat/state"}
)


def test_unset_switch_means_local():
    assert current_environment({}) == LOCAL


@pytest.mark.parametrize("raw", ["prod", "PROD", " staging ", "qa"])
def test_switch_values(raw):
    assert current_environment({"PLATFORM_ENV": raw}) == raw.strip().lower()


def test_a_name_that_is_no_environment_name_is_rejected():
    with pytest.raises(InvalidEnvironment, match="is not an environment name"):
        current_environment({"PLATFORM_ENV": "../prod"})


def test_only_local_is_built_in():
    with pytest.raises(InvalidEnvironment) as other:
        load_settings(environ={"PLATFORM_ENV": "qa"})
    assert "deployments/qa/platform.yaml" in str(other.value)


def test_a_deployment_loads_only_when_platform_env_agrees_with_the_environment_it_states():
    assert deployment_environment("local", {}) == LOCAL  # a fresh clone needs no switch
    assert deployment_environment("prod", {"PLATFORM_ENV": "prod"}) == "prod"
    with pytest.raises(EnvironmentMismatch) as unset:
        deployment_environment("prod", {})
    assert str(unset.value).startswith(
        "this code location is the prod deployment, but PLATFORM_ENV is not set"
    )
    assert "Set PLATFORM_ENV=prod" in str(unset.value)
    with pytest.raises(EnvironmentMismatch) as other:
        deployment_environment("staging", {"PLATFORM_ENV": "prod"})
    assert "the staging deployment, but PLATFORM_ENV=prod" in str(other.value)
    assert "Set PLATFORM_ENV=staging for this deployment, or run the prod one" in str(other.value)
    with pytest.raises(EnvironmentMismatch, match="the local deployment, but PLATFORM_ENV=staging"):
        deployment_environment("local", {"PLATFORM_ENV": "staging"})


def test_an_environment_folder_declares_its_warehouse_and_defaults(tmp_path):
    folder = tmp_path / "qa"
    folder.mkdir()
    (folder / "platform.yaml").write_text("warehouse: duckdb\ndefaults: {SOURCE_PG_SSLMODE: require}\n")
    spec = EnvironmentSpec.read(folder)
    assert (spec.name, spec.warehouse, dict(spec.defaults)) == (
        "qa",
        "duckdb",
        {"SOURCE_PG_SSLMODE": "require"},
    )
    names = {v.name for v in core_variables(spec.warehouse)}
    assert "WAREHOUSE_DUCKDB_PATH" in names and "SNOWFLAKE_ACCOUNT" not in names


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (None, "platform.yaml: missing"),
        ("warehouse: bigquery\n", "warehouse must be one of duckdb, snowflake, not 'bigquery'"),
        ("warehouse: duckdb\nregion: eu\n", "unknown keys region"),
        ("warehouse: duckdb\ndefaults: {source_pg_host: x}\n", "not variable names: source_pg_host"),
        ("warehouse: duckdb\ndefaults: [SOURCE_PG_HOST]\n", "defaults must be a mapping"),
        (
            "warehouse: duckdb\ndefaults: {SNOWFLAKE_PASSWORD: x}\n",
            "a secret has no default: SNOWFLAKE_PASSWORD",
        ),
    ],
)
def test_a_wrong_environment_folder_is_refused_naming_the_file(tmp_path, text, said):
    folder = tmp_path / "qa"
    folder.mkdir()
    if text is not None:
        (folder / "platform.yaml").write_text(text)
    with pytest.raises(InvalidEnvironment) as refused:
        EnvironmentSpec.read(folder)
    assert str(folder / "platform.yaml") in str(refused.value) and said in str(refused.value)


def test_a_provided_resources_secret_has_no_default_either(tmp_path, provider):
    folder = tmp_path / "qa"
    folder.mkdir()
    (folder / "platform.yaml").write_text("warehouse: duckdb\ndefaults: {ORDERS_DB_PASSWORD: x}\n")
    with pytest.raises(InvalidEnvironment, match="a secret has no default: ORDERS_DB_PASSWORD"):
        EnvironmentSpec.read(folder)


def test_missing_variables_are_all_listed_in_one_message():
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(SNOWFLAKE_ENV, {"SNOWFLAKE_ACCOUNT": "acme"})
    required = {v.name for v in core_variables("snowflake") if v.required}
    expected = required - {"SNOWFLAKE_ACCOUNT"} - set(SNOWFLAKE_ENV.defaults)
    assert expected == {
        "SNOWFLAKE_USER",
        "SNOWFLAKE_PASSWORD",
        "SNOWFLAKE_DATABASE",
        "SNOWFLAKE_WAREHOUSE",
        "SNOWFLAKE_ROLE",
        "ARTIFACTS_URL",
    }
    assert set(info.value.missing) == expected
    for name in expected:
        assert name in str(info.value)
    assert "SNOWFLAKE_ACCOUNT" not in str(info.value)
    # The fix outside local is the deployment's secrets, not the local sandbox (whose hint it showed).
    assert "sandbox" not in str(info.value) and "deployment's secrets" in str(info.value)
    with pytest.raises(MissingEnvironmentVariables) as local:
        load_settings(LOCAL_SPEC, {}, [Variable("ORDERS_DB_PORT", "a port the sandbox generates")])
    assert "dataplat-sandbox up --env-file .env" in str(local.value)


def test_local_needs_only_what_the_sandbox_generates(tmp_path, provider):
    environ = {**provider.sources, "XDG_DATA_HOME": str(tmp_path)}
    settings = load_settings(LOCAL_SPEC, environ, variables_of("duckdb"))
    assert settings.value("ORDERS_DB_HOST") == "127.0.0.1"  # the provided variable's local default
    assert settings.value("WAREHOUSE_DUCKDB_PATH") == f"{tmp_path}/dataplat/warehouse.duckdb"
    assert settings.state_dir == tmp_path / "dataplat" / "state"
    assert settings.is_from_environment("ORDERS_DB_PORT")
    assert not settings.is_from_environment("ORDERS_DB_HOST")
    # Core alone needs nothing locally: a fresh clone's location without sources loads with no setup.
    assert load_settings(LOCAL_SPEC, {"XDG_DATA_HOME": str(tmp_path)}).env == LOCAL


def test_local_lists_what_the_sandbox_must_provide(provider):
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(LOCAL_SPEC, {}, variables_of("duckdb"))
    assert set(info.value.missing) == set(provider.sources)


def test_secret_values_are_not_handed_out(provider):
    settings = load_settings(LOCAL_SPEC, provider.sources, variables_of("duckdb"))
    with pytest.raises(KeyError, match="EnvVar"):
        settings.value("ORDERS_DB_PASSWORD")
    assert settings.resource_value("ORDERS_DB_PASSWORD") == dg.EnvVar("ORDERS_DB_PASSWORD")
    assert settings.resource_value("ORDERS_DB_HOST") == "127.0.0.1"  # a default: the literal value


def test_an_int_field_gets_an_int_environment_reference_or_its_default_as_a_number(provider, tmp_path):
    spec = EnvironmentSpec(
        LOCAL, "duckdb", {"ORDERS_DB_PORT": "6543"}
    )  # a platform.yaml default for the port
    environ = {"ORDERS_DB_PASSWORD": "pw", "XDG_DATA_HOME": str(tmp_path)}
    defaulted = load_settings(spec, environ, variables_of("duckdb"))
    assert defaulted.resource_value("ORDERS_DB_PORT", int) == 6543
    from_env = load_settings(spec, {**environ, "ORDERS_DB_PORT": "7"}, variables_of("duckdb"))
    assert from_env.resource_value("ORDERS_DB_PORT", int) == dg.EnvVar.int("ORDERS_DB_PORT")
    assert from_env.resource_value("ORDERS_DB_PORT") == dg.EnvVar("ORDERS_DB_PORT")


def test_importing_reads_no_environment():
    # A broken switch must not break imports: it is read when definitions are built.
    code = "import dataplat_core, dataplat_core.resources, dataplat_core.checks, dataplat_core.definitions"
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PLATFORM_ENV": "nonsense"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_a_variable_is_declared_with_a_variable_name_and_a_secret_without_default():
    with pytest.raises(ValueError, match="'source-host' is not an environment variable name"):
        Variable("source-host", "x")
    with pytest.raises(ValueError, match="SOURCE_PASSWORD is a secret: it has no default"):
        Variable("SOURCE_PASSWORD", "x", secret=True, local_default="pw")
