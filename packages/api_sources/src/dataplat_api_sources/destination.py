"""The dlt destination and a per-run pipeline, both derived from the platform's `warehouse` resource.

The warehouse names its dlt destination (`dataplat_core.warehouse.Warehouse.dlt_destination`): a DuckDB file,
the same one every other asset writes (the run is in the `warehouse` concurrency pool, so two runs never write
it at once), or Snowflake with credentials from `SNOWFLAKE_*` variables, resolved by the run worker.

Pipelines live in a working directory that only one step attempt uses (a fresh folder, `workdir.py`): dlt's local
state is a cache, the truth (cursor state, schema) is restored from the destination (`restore_from_destination`,
dlt's default).
"""

from __future__ import annotations

from pathlib import Path

import dlt
from dataplat_core.warehouse import Warehouse
from dlt.common.destination import Destination
from dlt.pipeline.pipeline import Pipeline

from dataplat_api_sources.partitions import Window


def warehouse_destination(warehouse: Warehouse) -> Destination:
    """dlt's destination for the platform's warehouse, as the warehouse names it (`Warehouse.dlt_destination`:
    the DuckDB file, or Snowflake's credentials resolved by the run worker)."""
    kind, options = warehouse.dlt_destination()
    return Destination.from_reference(kind, **options)


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
