"""A DuckDB warehouse holding the ingestion location's tables, built from the sandbox's real sources.

- `raw_shop.*` is copied from the sandbox's PostgreSQL by DuckDB's postgres scanner (what Sling replicates).
- `payments_api.refunds` is paged over HTTP from the sandbox's payments API, typed like the dlt pipeline of
  `api_sources` loads it (bigint ids, double amounts, UTC timestamps, plus dlt's two columns).

It is built once per session into a template file and copied into each test's `tmp_path`, so tests that
rebuild or alter tables never see each other's changes.
"""

import shutil
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.duckdb_warehouse import copy_from_postgres
from dataplat_core.testing import declared_component
from dataplat_ml_training.components import ModelTrainingComponent
from dataplat_ml_training.features import FeatureRoles


@pytest.fixture(scope="session")
def sandbox_config():
    """Bigger than the plugin's 2,000 orders: ~700 refunds in 45 days give a test AUC that is stable to about
    +-0.03, far above the 0.6 floor, and the whole suite still runs in well under a minute."""
    from dataplat_sandbox.config import SandboxConfig

    return SandboxConfig(seed=7, orders=10_000, start_date=date(2026, 1, 1), days=45)


def build_warehouse(path, pg_dsn: str, refunds: list[dict]) -> None:
    import pandas as pd

    with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
        copy_from_postgres(conn, pg_dsn, ("orders", "order_items", "customers", "products"))
        frame = pd.DataFrame(refunds)  # noqa: F841 - read by DuckDB below
        conn.execute("create schema payments_api")
        conn.execute(
            """
            create table payments_api.refunds as
            select cast(refund_id as bigint) as refund_id, cast(payment_id as bigint) as payment_id,
                   cast(order_id as bigint) as order_id, cast(amount as double) as amount,
                   cast(reason as varchar) as reason,
                   cast(created_at as timestamptz) as created_at, cast(updated_at as timestamptz) as updated_at,
                   '1767225600.0' as _dlt_load_id, md5(cast(refund_id as varchar)) as _dlt_id
            from frame
            """
        )


@pytest.fixture(scope="session")
def refunds_from_api(sandbox_config):
    from dataplat_sandbox.payments_api import PaymentsApiServer, fetch_all

    with PaymentsApiServer(sandbox_config) as api:
        return fetch_all(api.url, api.token, "/refunds")


@pytest.fixture(scope="session")
def template_warehouse(tmp_path_factory, sandbox_postgres, refunds_from_api):
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    build_warehouse(path, sandbox_postgres.dsn("readonly"), refunds_from_api)
    return path


@pytest.fixture
def warehouse(platform_env, template_warehouse):
    """This test's warehouse file (where the platform's `warehouse` resource points), with the sources."""
    shutil.copyfile(template_warehouse, platform_env["WAREHOUSE_DUCKDB_PATH"])
    return platform_env["WAREHOUSE_DUCKDB_PATH"]


def query(warehouse_path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse_path), read_only=True, config=duckdb_connection_config()) as conn:
        return conn.execute(sql).fetchall()


# The sandbox shop's refund model as the analytics composition declares it: its features SELECT, read from
# there (not copied), over the ingestion location's tables, and the roles of its columns.
COMPOSITION = Path(__file__).resolve().parents[3] / "deployments" / "locations" / "analytics" / "defs"
FEATURES_SQL = (COMPOSITION / "refund_model" / "features.sql").read_text()
ROLES = FeatureRoles(
    key="order_id",
    time="order_ts",
    label="refunded",
    categorical=("channel", "category", "country"),
    numeric=("total_amount", "discount_pct", "tenure_days", "n_lines", "n_units"),
    log_scaled=("total_amount",),
)
REFUND_MODEL = {
    "model_name": "refund_model",
    "features_table": "order_features",
    "predictions_table": "refund_predictions",
    "predictions_column": "refund_probability",
    "sources": {
        name: {"table": table, "asset_key": table.replace(".", "/")}
        for name, table in {
            "orders": "raw_shop.orders",
            "order_items": "raw_shop.order_items",
            "customers": "raw_shop.customers",
            "products": "raw_shop.products",
            "refunds": "payments_api.refunds",
        }.items()
    },
    "features": {
        "sql": "features.sql",
        "key": ROLES.key,
        "time": ROLES.time,
        "label": ROLES.label,
        "categorical": list(ROLES.categorical),
        "numeric": list(ROLES.numeric),
        "log_scaled": list(ROLES.log_scaled),
    },
}


@contextmanager
def component_defs(attributes: dict | None = None, *, features_sql: str = FEATURES_SQL):
    """The refund model declared in a defs.yaml with its features SQL beside it (as a deployment declares it),
    `attributes` replacing top-level keys, plus the platform's resources."""
    attrs = {**REFUND_MODEL, **(attributes or {})}
    with declared_component(ModelTrainingComponent, attrs, files={"features.sql": features_sql}) as declared:
        yield declared


def run(defs: dg.Definitions, *keys: str, checks_only: bool = False) -> dg.ExecuteInProcessResult:
    """Materialize the given assets (default: all) with their checks, or run only the checks of `keys`."""
    selected = [dg.AssetKey.from_user_string(k) for k in keys]
    if checks_only:
        selection = dg.AssetSelection.checks_for_assets(*selected)
    else:
        selection = dg.AssetSelection.assets(*selected) if selected else dg.AssetSelection.all()
    job = dg.define_asset_job("under_test", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("under_test")
    return resolved.execute_in_process(raise_on_error=False)


def materialization(result: dg.ExecuteInProcessResult, key: str):
    found = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey.from_user_string(key)
    ]
    assert len(found) == 1, f"expected one materialization of {key}, got {len(found)}"
    return found[0]
