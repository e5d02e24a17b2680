"""Fixtures shared by the reporting tests: the upstream tables (DuckDB and Snowflake) and where test artifacts
go. The `chromium` fixture comes from the sandbox's pytest plugin."""

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from shop_warehouse import build_shop_warehouse

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and other files a human looks at after the run (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# The landing day that carries the sandbox's `bad_types` defect: its broken rows go to the rejects table.
DEFECT_DAY = date(2026, 1, 3)


@dataclass(frozen=True)
class ShopSources:
    seed: Path  # a DuckDB file with every upstream table, copied into each test's warehouse
    landing: Any  # the sandbox's LandingFiles (rows and bad rows per day)


@pytest.fixture(scope="session")
def shop_sources(sandbox_config, sandbox_postgres, tmp_path_factory) -> ShopSources:
    """Every upstream table, built once per session from the sandbox's real sources (see shop_warehouse.py)."""
    from dataplat_sandbox.landing import write_landing
    from dataplat_sandbox.payments_api import PaymentsApiServer

    root = tmp_path_factory.mktemp("shop-seed")
    files = write_landing(root / "landing", sandbox_config, defects={DEFECT_DAY: "bad_types"})
    with PaymentsApiServer(sandbox_config) as api:
        build_shop_warehouse(
            root / "seed.duckdb",
            pg_dsn=sandbox_postgres.dsn("readonly"),
            api_url=api.url,
            api_token=api.token,
            landing=list(files),
        )
    return ShopSources(root / "seed.duckdb", files)


@pytest.fixture
def shop_warehouse(platform_env, shop_sources) -> Path:
    """The platform's local DuckDB warehouse (WAREHOUSE_DUCKDB_PATH in tmp_path) holding the upstream tables."""
    path = Path(platform_env["WAREHOUSE_DUCKDB_PATH"])
    shutil.copyfile(shop_sources.seed, path)
    return path


@pytest.fixture
def snowflake_warehouse(shop_sources):
    """A `WarehouseSnowflake` on fakesnow (Snowflake's connector emulated on DuckDB) with the upstream tables.

    The tables are bulk-loaded through the emulator's DuckDB connection (the part Sling and dlt play in a real
    account); everything the marts and checks run goes through the Snowflake connector API and Snowflake SQL.
    """
    import fakesnow
    import snowflake.connector
    from dataplat_core.snowflake_warehouse import WarehouseSnowflake

    with fakesnow.patch():
        conn = snowflake.connector.connect(database="SHOP", schema="PUBLIC")
        duck = conn._duck_conn
        duck.execute(f"attach '{shop_sources.seed}' as seed (read_only)")
        for schema, table in duck.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'seed'"
        ).fetchall():
            duck.execute(f"create schema if not exists shop.{schema}")
            duck.execute(f"create table shop.{schema}.{table} as select * from seed.{schema}.{table}")
        duck.execute("detach seed")
        yield WarehouseSnowflake(
            account="fake", user="tester", password="fake", database="SHOP", schema="PUBLIC", warehouse="fake"
        )
        conn.close()
