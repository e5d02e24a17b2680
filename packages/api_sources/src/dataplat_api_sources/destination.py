"""The dlt destination and a per-run pipeline, both derived from the platform's `warehouse` resource.

- DuckDB (local, staging): `dlt.destinations.duckdb(<the resource's database file>)`, the same file every other
  asset writes; the run is in the `warehouse` concurrency pool, so two runs never write it at once.
- Snowflake (prod): `dlt.destinations.snowflake(credentials)` from the `SnowflakeResource` the resource factory
  built from `SNOWFLAKE_*` environment variables (values resolved by the run worker, never written anywhere).

Pipelines live in a working directory that only one step attempt uses (a fresh folder, `workdir.py`): dlt's local
state is a cache, the truth (cursor state, schema) is restored from the destination (`restore_from_destination`,
dlt's default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.pipeline.pipeline import Pipeline

from dataplat_api_sources.partitions import Window

SNOWFLAKE_FIELDS = ("account", "user", "password", "database", "warehouse", "role")


def warehouse_destination(warehouse: Any) -> Destination:
    """The dlt destination for a `DuckDBResource` (has `.database`) or a `SnowflakeResource` (has `.account`)."""
    if getattr(warehouse, "account", None):
        values = {field: getattr(warehouse, field, None) for field in SNOWFLAKE_FIELDS}
        credentials = {
            "host": values["account"],  # dlt names the account identifier `host`
            "username": values["user"],
            "password": values["password"],
            "database": values["database"],
            "warehouse": values["warehouse"],
            "role": values["role"],
        }
        return dlt.destinations.snowflake(credentials={k: v for k, v in credentials.items() if v})
    database = getattr(warehouse, "database", None)
    if not database:
        raise TypeError(
            f"cannot derive a dlt destination from a {type(warehouse).__name__} warehouse resource"
        )
    return dlt.destinations.duckdb(str(database))


def pipeline_name(base: str, window: Window | None) -> str:
    """One name per partition (or backfill range): runs of different partitions never share dlt state."""
    return f"{base}__{window.label}" if window else base


def make_pipeline(
    base_name: str,
    *,
    dataset: str,
    destination: Destination | None,
    pipelines_dir: Path,
    window: Window | None,
) -> Pipeline:
    return dlt.pipeline(
        pipeline_name=pipeline_name(base_name, window),
        pipelines_dir=str(pipelines_dir),
        destination=destination,
        dataset_name=dataset,
    )
