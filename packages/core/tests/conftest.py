import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from dataplat_core.variables import provided

# A package that provides a resource, as snowflake_ingestion provides its source (core's venv installs none):
# a real distribution on sys.path whose entry point `dataplat.resources` names its RESOURCES.
PROVIDER_MODULE = """
from typing import Any

import dagster as dg
from pydantic import Field

from dataplat_core.variables import ProvidedResource, Variable


class OrdersDb(dg.ConfigurableResource):
    host: str
    port: int
    password: str = Field(repr=False)


class OrdersCopy(dg.ConfigurableResource):
    source: Any
    warehouse: Any


VARIABLES = (
    Variable("ORDERS_DB_HOST", "the orders database's host", local_default="127.0.0.1"),
    Variable("ORDERS_DB_PORT", "its port"),
    Variable("ORDERS_DB_PASSWORD", "its password", secret=True),
)
# Declared before the resource it needs: built after it all the same.
RESOURCES = (
    ProvidedResource(
        "orders_copy", "copies orders into the warehouse", (),
        lambda s, built: OrdersCopy(source=built["orders_db"], warehouse=built["warehouse"]),
        needs=("warehouse", "orders_db"),
    ),
    ProvidedResource(
        "orders_db", "the orders database", VARIABLES,
        lambda s, _: OrdersDb(
            host=s.resource_value("ORDERS_DB_HOST"), port=s.resource_value("ORDERS_DB_PORT", int),
            password=s.resource_value("ORDERS_DB_PASSWORD"),
        ),
    ),
)
"""
# What the sandbox would provide for it in the local environment (placeholders: nothing connects to them).
PROVIDER_SOURCES = {"ORDERS_DB_PORT": "5433", "ORDERS_DB_PASSWORD": "pw"}


def install_provider(site, name: str = "orders_provider", module: str = PROVIDER_MODULE) -> None:
    """Writes distribution `name` (its module, and a dist-info with the entry point) into the folder `site`."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(module))
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[dataplat.resources]\n{name} = {name}:RESOURCES\n")


@dataclass
class Provider:
    site: Path
    sources: dict[str, str]  # what the sandbox would set for it locally

    def install(self, name: str) -> None:
        """Another distribution providing the same resources."""
        install_provider(self.site, name)
        provided.cache_clear()


@pytest.fixture
def provider(tmp_path, monkeypatch):
    """The provider installed on sys.path for this test (and the resource discovery's cache cleared around it)."""
    site = tmp_path / "site"
    install_provider(site)
    monkeypatch.syspath_prepend(str(site))
    provided.cache_clear()
    yield Provider(site, dict(PROVIDER_SOURCES))
    for name in [m for m in sys.modules if m.endswith("_provider")]:
        sys.modules.pop(name)
    provided.cache_clear()


@pytest.fixture
def local_env(monkeypatch, tmp_path):
    """The local environment's variables in os.environ, with a warehouse file under tmp_path."""
    env = {
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "w" / "warehouse.duckdb"),
        "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
        "ARTIFACTS_URL": str(tmp_path / "artifacts"),
    }
    monkeypatch.delenv("PLATFORM_ENV", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
