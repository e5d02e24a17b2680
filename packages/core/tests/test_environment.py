import subprocess
import sys

import pytest
from conftest import LOCAL_SOURCES
from dataplat_core.environment import (
    LOCAL,
    LOCAL_SPEC,
    EnvironmentMismatch,
    EnvironmentSpec,
    InvalidEnvironment,
    MissingEnvironmentVariables,
    current_environment,
    deployment_environment,
    load_settings,
)

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
        load_settings(environ={"PLATFORM_ENV": "qa", **LOCAL_SOURCES})
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
    assert "WAREHOUSE_DUCKDB_PATH" in spec.required and "SNOWFLAKE_ACCOUNT" not in spec.required


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (None, "platform.yaml: missing"),
        ("warehouse: bigquery\n", "warehouse must be one of duckdb, snowflake, not 'bigquery'"),
        ("warehouse: duckdb\nregion: eu\n", "unknown keys region"),
        (
            "warehouse: duckdb\ndefaults: {SNOWFLAKE_ROLE: x}\n",
            "variables the platform does not read: SNOWFLAKE_ROLE",
        ),
        (
            "warehouse: duckdb\ndefaults: {SOURCE_PG_PASSWORD: x}\n",
            "a secret has no default: SOURCE_PG_PASSWORD",
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


def test_missing_variables_are_all_listed_in_one_message():
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(SNOWFLAKE_ENV, {"SNOWFLAKE_ACCOUNT": "acme"})
    expected = set(SNOWFLAKE_ENV.required) - {"SNOWFLAKE_ACCOUNT"} - set(SNOWFLAKE_ENV.defaults)
    assert set(info.value.missing) == expected
    for name in expected:
        assert name in str(info.value)
    assert "SNOWFLAKE_ACCOUNT" not in str(info.value)
    # The fix outside local is the deployment's secrets, not the local sandbox (whose hint it showed).
    assert "sandbox" not in str(info.value) and "deployment's secrets" in str(info.value)
    with pytest.raises(MissingEnvironmentVariables) as local:
        load_settings(LOCAL_SPEC, {})
    assert "dataplat-sandbox up --env-file .env" in str(local.value)


def test_local_needs_only_what_the_sandbox_generates(tmp_path):
    settings = load_settings(LOCAL_SPEC, {**LOCAL_SOURCES, "XDG_DATA_HOME": str(tmp_path)})
    assert settings.value("SOURCE_PG_HOST") == "127.0.0.1"
    assert settings.value("WAREHOUSE_DUCKDB_PATH") == f"{tmp_path}/dataplat/warehouse.duckdb"
    assert settings.state_dir == tmp_path / "dataplat" / "state"
    assert settings.is_from_environment("SOURCE_PG_PORT")
    assert not settings.is_from_environment("SOURCE_PG_HOST")


def test_local_lists_what_the_sandbox_must_provide():
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(LOCAL_SPEC, {})
    assert set(info.value.missing) == set(LOCAL_SOURCES)


def test_secret_values_are_not_handed_out():
    settings = load_settings(LOCAL_SPEC, LOCAL_SOURCES)
    with pytest.raises(KeyError, match="EnvVar"):
        settings.value("SOURCE_PG_PASSWORD")


def test_importing_reads_no_environment():
    # A broken switch must not break imports: it is read when definitions are built.
    code = "import dataplat_core, dataplat_core.resources, dataplat_core.checks, dataplat_core.definitions"
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PLATFORM_ENV": "nonsense"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
