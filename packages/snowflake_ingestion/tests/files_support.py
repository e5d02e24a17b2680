"""Helpers for the file-ingestion tests: build the component from YAML attributes, run partition ranges,
read the DuckDB warehouse file the run wrote."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dataplat_core.observability import UNCHANGED_PARTITIONS
from dataplat_core.testing import declared_component
from dataplat_sandbox.landing import SALES_COLUMN_TYPES
from dataplat_snowflake_ingestion.components import FileIngestionComponent
from dataplat_snowflake_ingestion.files.completeness import Completeness
from dataplat_snowflake_ingestion.files.identity import FORCE_TAG

COLUMNS = SALES_COLUMN_TYPES
# For loader-level tests: files written whole by the test are settled at once (see ATTRIBUTES).
SETTLED = Completeness(settle_seconds=0)
TABLE = "raw_files.sales"
JOB = "load_raw_files__sales"
ATTRIBUTES = {
    "table": TABLE,
    "landing_subfolder": "sales",
    "file_pattern": "{date}.csv",
    "columns": COLUMNS,
    "primary_key": ["order_id", "line_no"],
    "partition_start_date": "2026-01-01",
    "partition_end_date": "2026-01-15",  # the test sandbox's 14 days
    "date_column": "order_ts",
    # The sandbox writes each file whole and renames it into place: settled the moment it appears. The
    # default wait (5 s after the last change) has tests of its own in test_completeness.py.
    "completeness": {"rule": "stable", "settle_seconds": 0},
}


@contextmanager
def file_defs(**overrides):
    """Definitions of one FileIngestionComponent declared through YAML, with the environment's resources."""
    with declared_component(FileIngestionComponent, {**ATTRIBUTES, **overrides}) as (_, defs):
        yield defs


def run_range(
    defs: dg.Definitions, first: str, last: str | None = None, instance=None, *, reload: bool = False
) -> dg.ExecuteInProcessResult:
    """One run over the partition range [first, last], as a single-run backfill launches it (`reload`: tagged
    to load files that are the ones loaded already)."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
    if reload:
        tags[FORCE_TAG] = "true"
    job = defs.resolve_job_def(JOB)
    if instance is not None:
        return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    with dg.instance_for_test() as temp:
        return job.execute_in_process(instance=temp, tags=tags, raise_on_error=False)


def warehouse(env: dict) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(env["WAREHOUSE_DUCKDB_PATH"], read_only=True)


def partition_counts(env: dict) -> dict[str, int]:
    with warehouse(env) as wh:
        rows = wh.execute(
            f"select _file_date::VARCHAR, count(*) from {TABLE} group by 1 order by 1"
        ).fetchall()
    return dict(rows)


def published(env: dict) -> tuple[list, list]:
    """Every published row of the table and of its rejects, in a stable order: what a refused delivery must
    leave exactly as it was."""
    with warehouse(env) as wh:
        rows = wh.execute(f"select * from {TABLE} order by all").fetchall()
        rejects = wh.execute(f"select * from {TABLE}_rejects order by all").fetchall()
    return rows, rejects


def duplicate_keys(env: dict) -> int:
    with warehouse(env) as wh:
        return wh.execute(
            f"select count(*) from (select order_id, line_no from {TABLE} group by 1, 2 having count(*) > 1)"
        ).fetchone()[0]


def data_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


def unchanged_partitions(result: dg.ExecuteInProcessResult) -> int:
    """Partitions the run did not reload because their file is the one loaded (its observation)."""
    return sum(
        int(e.asset_observation_data.asset_observation.metadata[UNCHANGED_PARTITIONS].value)
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return "\n".join(messages)
