"""Run inside a network namespace that has only loopback: a real Sling replication, PostgreSQL -> DuckDB.

Started by test_offline.py. Nothing here exports SLING_BINARY or DUCKDB_PATH: building the platform's
resources must be enough. Prints one JSON line with the counts it saw.
"""

import json
import os
import signal
import sys
from pathlib import Path

import dagster as dg
import duckdb
from dagster_sling import SlingConnectionResource, SlingResource, sling_assets
from dataplat_core.environment import LOCAL_SPEC
from dataplat_core.resources import build_resources
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.postgres import SandboxPostgres

# The test stops a stalled attempt with SIGTERM: exit normally, so that the sandbox's PostgreSQL is stopped.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
workdir = Path(sys.argv[1])
for name in ("SLING_BINARY", "DUCKDB_PATH"):
    os.environ.pop(name, None)

with SandboxPostgres(workdir / "pg") as pg:
    pg.load(SandboxConfig(orders=300, days=5))
    os.environ.update(
        SOURCE_PG_HOST=pg.host,
        SOURCE_PG_PORT=str(pg.port),
        SOURCE_PG_USER=pg.readonly_user,
        SOURCE_PG_PASSWORD=pg.readonly_password,
        WAREHOUSE_DUCKDB_PATH=str(workdir / "warehouse.duckdb"),
        DATAPLAT_STATE_DIR=str(workdir / "state"),
    )
    # Core builds the warehouse (and on it Sling's target connection); the source is this script's own, as
    # snowflake_ingestion's provided `sling` resource would add it.
    warehouse = build_resources(LOCAL_SPEC)["warehouse"]
    source = SlingConnectionResource(
        name="SOURCE_PG", type="postgres", host=dg.EnvVar("SOURCE_PG_HOST"), port=dg.EnvVar("SOURCE_PG_PORT"),
        database="shop", user=dg.EnvVar("SOURCE_PG_USER"), password=dg.EnvVar("SOURCE_PG_PASSWORD"), sslmode="disable",
    )  # fmt: skip
    sling = SlingResource(connections=[source, warehouse.sling_connection("WAREHOUSE")])
    replication = {
        "source": "SOURCE_PG",
        "target": "WAREHOUSE",
        "defaults": {"object": "raw_shop.{stream_table}"},
        "streams": {
            "shop.customers": {"mode": "full-refresh"},
            "shop.orders": {"mode": "incremental", "primary_key": ["order_id"], "update_key": "updated_at"},
        },
    }

    @sling_assets(replication_config=replication)
    def shop(context: dg.AssetExecutionContext, sling: SlingResource):
        yield from sling.replicate(context=context, stream=True)

    result = dg.materialize([shop], resources={"sling": sling}, raise_on_error=False)
    with pg.connect() as conn:
        source = {
            t: conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in ("customers", "orders")
        }
    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as wh:
        target = {
            t: wh.execute(f"select count(*) from raw_shop.{t}").fetchone()[0] for t in ("customers", "orders")
        }
    print(
        json.dumps(
            {
                "success": result.success,
                "source": source,
                "target": target,
                "sling_binary": os.environ.get("SLING_BINARY"),
            }
        )
    )
