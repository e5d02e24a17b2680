"""Prod configuration, checked without a cluster or Snowflake (there is neither here).

Run by `nox -s release` inside each prod code location's venv, installed from the internal index exactly as
its image would be; DATAPLAT_LOCATION names the location whose venv this is. Everything up to the cluster
and the Snowflake connector is real: the Helm values and the instance config are parsed and validated
against dagster's and dagster-k8s's own config schemas, and the definitions are built with placeholder
values for every prod variable.
"""

import json
import os
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dataplat_core.environment import EnvironmentMismatch, EnvironmentSpec
from dataplat_core.runner import load_definitions

PROD = Path(__file__).resolve().parents[1]
LOCATIONS = ("ingestion", "analytics")
SECRET = "dataplat-prod-env"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((PROD / "helm" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def location() -> str:
    name = os.environ.get("DATAPLAT_LOCATION")
    assert name in LOCATIONS, f"DATAPLAT_LOCATION must name this venv's code location, got {name!r}"
    return name


def _placeholders() -> dict[str, str]:
    lines = (PROD.parents[1] / "tools" / "placeholder.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def read_variables(location, monkeypatch) -> dict[str, dict]:
    """What this venv's prod location reads, as it lists it when loaded (definitions metadata
    `dataplat/variables`: core's, its packages' resources' and its composition's own)."""
    for name, value in _placeholders().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    defs = load_definitions(f"dataplat_prod_{location}.definitions")
    return {v["name"]: v for v in defs.metadata["dataplat/variables"].value}


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, str(i)))
    else:
        yield path, node


def test_every_instance_configuration_shipped_has_telemetry_off_without_cluster(values):
    assert values["telemetry"] == {"enabled": False}
    for env in ("prod", "staging"):
        config = yaml.safe_load((PROD.parent / env / "dagster.yaml").read_text())
        assert config["telemetry"] == {"enabled": False}, env


def test_helm_values_deploy_each_prod_code_location_without_cluster(values):
    deployments = {d["name"]: d for d in values["dagster-user-deployments"]["deployments"]}
    assert set(deployments) == set(LOCATIONS)
    for name, deployment in deployments.items():
        project = tomllib.loads((PROD / name / "pyproject.toml").read_text())["project"]
        module = f"dataplat_prod_{name}.definitions"
        assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
        assert (PROD / name / "src" / module.replace(".", "/")).with_suffix(".py").is_file()
        assert deployment["image"]["tag"] == project["version"]  # the image is the released package
        assert {"name": SECRET} in deployment["envSecrets"]
        assert {"name": "PLATFORM_ENV", "value": "prod"} in deployment["env"]
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": SECRET} in launcher["config"]["k8sRunLauncher"]["envSecrets"]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False


def test_no_secret_value_is_written_in_the_prod_config_without_cluster(values, read_variables):
    secretish = ("PASSWORD", "TOKEN", "SECRET_KEY", "PRIVATE_KEY")
    for path, value in _walk(values):
        if any(word in "/".join(path).upper() for word in secretish):
            assert value in (None, "", False), f"{'/'.join(path)} holds a literal secret"
    for node in [d.get("env", []) for d in values["dagster-user-deployments"]["deployments"]]:
        for entry in node:
            assert not read_variables.get(entry["name"], {}).get("secret"), (
                f"{entry['name']} must come from the Secret"
            )
    secret = yaml.safe_load((PROD / "helm" / "secret.example.yaml").read_text())
    assert all(v == "" for v in secret["stringData"].values()), "the example Secret must hold no values"


def test_secret_holds_every_variable_prod_requires_without_cluster(read_variables):
    spec = EnvironmentSpec.read(PROD)  # deployments/prod/platform.yaml
    secret = yaml.safe_load((PROD / "helm" / "secret.example.yaml").read_text())
    needed = {name for name, v in read_variables.items() if v["required"]} - set(spec.defaults)
    assert {"SNOWFLAKE_PASSWORD", "ARTIFACTS_URL"} <= needed and "WAREHOUSE_DUCKDB_PATH" not in needed
    assert needed <= set(secret["stringData"]), needed - set(secret["stringData"])


def test_instance_config_is_valid_for_dagster_and_dagster_k8s_without_cluster():
    config = yaml.safe_load((PROD / "dagster.yaml").read_text())
    instance = validate_config(dagster_instance_config_schema(), config)
    assert instance.success, instance.errors
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    launcher = validate_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert launcher.success, launcher.errors


def test_instance_settings_agree_with_each_other_without_cluster(tmp_path):
    """Builds a real instance from the prod file with only what needs a cluster or a database swapped out
    (K8sRunLauncher -> DefaultRunLauncher, PostgreSQL -> SQLite), so cross-setting rules are enforced."""
    config = yaml.safe_load((PROD / "dagster.yaml").read_text())
    config["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
    config["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 4


def test_prod_definitions_load_with_placeholder_env_without_cluster_or_snowflake(location, monkeypatch):
    for name, value in _placeholders().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    monkeypatch.delenv("WAREHOUSE_DUCKDB_PATH")  # prod must not need a DuckDB file
    defs = load_definitions(f"dataplat_prod_{location}.definitions")
    dg.Definitions.validate_loadable(defs)
    assert type(defs.resources["warehouse"]).__name__ == "WarehouseSnowflake"
    assert defs.resources["warehouse"].dialect == "snowflake"
    assert defs.executor is k8s_job_executor
    if location == "ingestion":  # snowflake_ingestion provides Sling; analytics installs no source
        connections = {c.name: c.type for c in defs.resources["sling"].connections}
        assert connections == {"SOURCE_PG": "postgres", "WAREHOUSE": "snowflake"}
    else:
        assert set(defs.resources) == {"warehouse", "artifacts"}
    assert defs.metadata[f"version/dataplat-prod-{location}"].value == "0.1.0"
    assert defs.resolve_asset_graph().get_all_asset_keys(), "the location declares no assets"
    if location == "ingestion":  # the composition's defaults: a live feed's open-ended daily partitions
        sales = defs.resolve_asset_graph().get(dg.AssetKey(["raw_files", "sales"])).partitions_def
        assert sales.start.date().isoformat() == "2026-01-01" and sales.end is None


@pytest.mark.parametrize("platform_env", [None, "local", "staging"])
def test_the_prod_location_refuses_to_load_unless_platform_env_is_prod(location, monkeypatch, platform_env):
    """Unset PLATFORM_ENV means local: a prod pod without it would otherwise run against a DuckDB file."""
    for name, value in _placeholders().items():
        monkeypatch.setenv(name, value)
    if platform_env is None:
        monkeypatch.delenv("PLATFORM_ENV", raising=False)
    else:
        monkeypatch.setenv("PLATFORM_ENV", platform_env)
    with pytest.raises(EnvironmentMismatch) as refused:
        load_definitions(f"dataplat_prod_{location}.definitions")
    said = "PLATFORM_ENV is not set" if platform_env is None else f"PLATFORM_ENV={platform_env}:"
    assert f"this code location is the prod deployment, but {said}" in str(refused.value)
    assert "Set PLATFORM_ENV=prod" in str(refused.value)


def test_sling_gets_snowflake_and_the_read_only_source_from_env_up_to_the_network(location, monkeypatch):
    """The connections exactly as dagster-sling hands them to the Sling binary (its environment), resolved
    from the (placeholder) prod variables: everything up to opening a socket to Snowflake or PostgreSQL.
    Sling is snowflake_ingestion's resource: the analytics location's venv has none."""
    from dataplat_core.resources import build_resources

    values = _placeholders()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    resources = build_resources(EnvironmentSpec.read(PROD))
    if location == "analytics":
        assert "sling" not in resources and "source_postgres" not in resources
        return
    sling = resources["sling"].process_config_and_initialize()
    connections = {name: json.loads(spec) for name, spec in sling.prepare_environment().items()}
    assert connections["WAREHOUSE"] == {
        "name": "WAREHOUSE",
        "type": "snowflake",
        **{key: values[f"SNOWFLAKE_{key.upper()}"] for key in ("account", "user", "password", "database",
                                                              "warehouse", "role")},
    }  # fmt: skip
    source = connections["SOURCE_PG"]
    assert (source["type"], source["user"], source["sslmode"]) == (
        "postgres",
        values["SOURCE_PG_USER"],
        "require",
    )
