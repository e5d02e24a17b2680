import subprocess
import sys

import pytest
from conftest import LOCAL_SOURCES
from dataplat_core.environment import (
    ENVIRONMENTS,
    EnvironmentMismatch,
    InvalidEnvironment,
    MissingEnvironmentVariables,
    PlatformEnv,
    current_environment,
    deployment_environment,
    load_settings,
)


def test_unset_switch_means_local():
    assert current_environment({}) is PlatformEnv.LOCAL


@pytest.mark.parametrize("raw", ["prod", "PROD", " staging "])
def test_switch_values(raw):
    assert current_environment({"PLATFORM_ENV": raw}).value == raw.strip().lower()


def test_unknown_environment_is_rejected_with_the_allowed_values():
    with pytest.raises(InvalidEnvironment, match="local, staging, prod"):
        current_environment({"PLATFORM_ENV": "qa"})


def test_a_deployment_loads_only_when_platform_env_agrees_with_the_environment_it_states():
    assert deployment_environment("local", {}) is PlatformEnv.LOCAL  # a fresh clone needs no switch
    assert deployment_environment("prod", {"PLATFORM_ENV": "prod"}) is PlatformEnv.PROD
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


def test_missing_variables_are_all_listed_in_one_message():
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(PlatformEnv.PROD, {"SNOWFLAKE_ACCOUNT": "acme"})
    prod = ENVIRONMENTS[PlatformEnv.PROD]
    expected = set(prod.required) - {"SNOWFLAKE_ACCOUNT"} - set(prod.defaults)
    assert set(prod.defaults) == {"SOURCE_PG_SSLMODE", "DATAPLAT_STATE_DIR"}
    assert set(info.value.missing) == expected
    for name in expected:
        assert name in str(info.value)
    assert "SNOWFLAKE_ACCOUNT" not in str(info.value)
    # The fix for prod is its secrets, not the local sandbox (whose hint it showed).
    assert "sandbox" not in str(info.value) and "deployment's secrets" in str(info.value)
    with pytest.raises(MissingEnvironmentVariables) as local:
        load_settings(PlatformEnv.LOCAL, {})
    assert "dataplat-sandbox up --env-file .env" in str(local.value)


def test_local_needs_only_what_the_sandbox_generates(tmp_path):
    settings = load_settings(PlatformEnv.LOCAL, {**LOCAL_SOURCES, "XDG_DATA_HOME": str(tmp_path)})
    assert settings.value("SOURCE_PG_HOST") == "127.0.0.1"
    assert settings.value("WAREHOUSE_DUCKDB_PATH") == f"{tmp_path}/dataplat/warehouse.duckdb"
    assert settings.state_dir == tmp_path / "dataplat" / "state"
    assert settings.is_from_environment("SOURCE_PG_PORT")
    assert not settings.is_from_environment("SOURCE_PG_HOST")


def test_local_lists_what_the_sandbox_must_provide():
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_settings(PlatformEnv.LOCAL, {})
    assert set(info.value.missing) == set(LOCAL_SOURCES)


def test_secret_values_are_not_handed_out():
    settings = load_settings(PlatformEnv.LOCAL, LOCAL_SOURCES)
    with pytest.raises(KeyError, match="EnvVar"):
        settings.value("SOURCE_PG_PASSWORD")


def test_importing_reads_no_environment():
    # A broken switch must not break imports: it is read when definitions are built.
    code = "import dataplat_core, dataplat_core.resources, dataplat_core.checks, dataplat_core.definitions"
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PLATFORM_ENV": "nonsense"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
