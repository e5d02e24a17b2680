"""A fourth environment is one folder: `qa`, added in a temporary copy of the deployments the way
docs/environments.md ("Adding an environment") says, loads with its own platform settings and values, and
refuses to load under another PLATFORM_ENV."""

import importlib
import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest
from dataplat_core.environment import EnvironmentMismatch, InvalidEnvironment

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def qa(tmp_path, monkeypatch):
    """deployments/qa/ in a copy: platform.yaml, and the ingestion location copied from staging's, renamed."""
    deployments = tmp_path / "deployments"
    shutil.copytree(ROOT / "deployments" / "locations", deployments / "locations")
    folder = deployments / "qa"
    shutil.copytree(ROOT / "deployments" / "staging" / "ingestion", folder / "ingestion")
    (folder / "ingestion" / "src" / "dataplat_staging_ingestion").rename(
        folder / "ingestion" / "src" / "dataplat_qa_ingestion"
    )
    definitions = folder / "ingestion" / "src" / "dataplat_qa_ingestion" / "definitions.py"
    definitions.write_text(definitions.read_text().replace('environment="staging"', 'environment="qa"'))
    (folder / "ingestion" / "environment.yaml").write_text(
        'composition: ../../locations/ingestion\nvalues:\n  sales_partition_end_date: "2026-02-01"\n'
    )
    (folder / "platform.yaml").write_text("warehouse: duckdb\ndefaults:\n  SOURCE_PG_SSLMODE: require\n")
    for line in (ROOT / "tools" / "placeholder.env").read_text().splitlines():
        if line and not line.startswith("#"):
            monkeypatch.setenv(*line.split("=", 1))
    monkeypatch.setenv("WAREHOUSE_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("DATAPLAT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SOURCE_PG_SSLMODE", raising=False)
    monkeypatch.setenv("PLATFORM_ENV", "qa")
    monkeypatch.syspath_prepend(str(folder / "ingestion" / "src"))
    yield folder
    for name in [m for m in sys.modules if m.startswith("dataplat_qa_ingestion")]:
        del sys.modules[name]


def _load() -> dg.Definitions:
    return importlib.import_module("dataplat_qa_ingestion.definitions").defs()


def test_a_qa_environment_folder_loads_with_its_platform_settings_and_values(qa):
    defs = _load()
    dg.Definitions.validate_loadable(defs)
    assert type(defs.resources["warehouse"]).__name__ == "WarehouseDuckDB"
    source = {c.name: c for c in defs.resources["sling"].connections}["SOURCE_PG"]
    assert source.sslmode == "require"  # qa's platform.yaml default
    days = defs.resolve_asset_graph().get(dg.AssetKey(["raw_files", "sales"])).partitions_def
    assert days.get_partition_keys()[-1] == "2026-01-31"  # qa's environment.yaml value


def test_the_qa_location_refuses_another_platform_env(qa, monkeypatch):
    monkeypatch.setenv("PLATFORM_ENV", "staging")
    with pytest.raises(EnvironmentMismatch, match="the qa deployment, but PLATFORM_ENV=staging"):
        _load()


def test_an_environment_folder_without_platform_yaml_is_refused_naming_the_file(qa):
    (qa / "platform.yaml").unlink()
    with pytest.raises(InvalidEnvironment, match=r"qa/platform.yaml: missing"):
        _load()
