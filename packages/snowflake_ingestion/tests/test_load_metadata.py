"""Every load records the platform's uniform metadata (dataplat_core.observability): rows read, loaded and
rejected, the source's newest timestamp and the duration, checked against the sandbox's own truth (the landing
files, the source PostgreSQL); and its log lines name the run and the partition."""

import csv
from datetime import date, datetime

import dagster as dg
import pytest
from dataplat_core.observability import (
    COLUMN_SCHEMA,
    DURATION_S,
    ROW_COUNT,
    ROWS_LOADED,
    ROWS_READ,
    ROWS_REJECTED,
    SOURCE_NEWEST_AT,
)
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.landing import write_landing
from files_support import file_defs, partition_counts, run_range
from replication_support import REPLICATION, TABLES, component_defs, epoch

DAYS = ["2026-01-03", "2026-01-04", "2026-01-05"]


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _file_truth(path) -> tuple[int, datetime]:
    """Data records and max(order_ts) over the loadable records of a landing file, read with the csv module
    (not the loader): a record whose quantity or order_ts does not parse is a reject."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    valid = [_parse(r["order_ts"]) for r in rows if r["quantity"].isdigit()]
    return len(rows), max(v for v in valid if v is not None)


def test_file_loads_record_rows_read_loaded_rejected_newest_and_duration(platform_env, landing_folder):
    bad_day = date(2026, 1, 4)
    files = write_landing(
        landing_folder, SandboxConfig(seed=7, orders=2_000, days=14), dates=[bad_day],
        defects={bad_day: "bad_types"},
    )  # fmt: skip
    with file_defs(reject_rate={"warn": 0.5, "fail": 0.9}) as defs:
        result = run_range(defs, DAYS[0], DAYS[-1])
    assert result.success
    mats = {
        e.materialization.partition: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert sorted(mats) == DAYS
    in_warehouse = partition_counts(platform_env)
    for day, metadata in mats.items():
        lines, newest_in_file = _file_truth(landing_folder / "sales" / f"{day}.csv")
        rejected = files.bad_rows[bad_day] if day == bad_day.isoformat() else 0
        assert metadata[ROWS_READ].value == lines
        assert metadata[ROWS_REJECTED].value == rejected
        assert metadata[ROWS_LOADED].value == in_warehouse[day] == lines - rejected
        # Dagster's row count is the whole table's once the run's partitions are in, not the partition's.
        assert metadata[ROW_COUNT].value == sum(in_warehouse.values())
        assert "order_id" in {c.name for c in metadata[COLUMN_SCHEMA].value.columns}
        assert metadata[DURATION_S].value > 0
        assert isinstance(metadata[SOURCE_NEWEST_AT], dg.TimestampMetadataValue)
        assert metadata[SOURCE_NEWEST_AT].value == epoch(newest_in_file), day
    assert mats[bad_day.isoformat()][ROWS_REJECTED].value > 0  # the defect really produced rejects


def test_replication_records_the_uniform_metadata_per_stream(platform_env, sandbox_postgres):
    with component_defs(REPLICATION) as defs:
        policy = defs.resolve_assets_def(dg.AssetKey(["raw_shop", "orders"])).op.retry_policy
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)
    assert (policy.max_retries, policy.backoff, policy.jitter) == (
        3,
        dg.Backoff.EXPONENTIAL,
        dg.Jitter.PLUS_MINUS,
    )
    assert result.success
    mats = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert sorted(mats) == sorted(TABLES)
    with sandbox_postgres.connect() as conn:
        for table in TABLES:
            count, newest = conn.execute(f"select count(*), max(updated_at) from shop.{table}").fetchone()
            metadata = mats[table]
            assert metadata[ROWS_READ].value == metadata[ROWS_LOADED].value == count, table
            assert metadata[ROWS_REJECTED].value == 0
            assert metadata[SOURCE_NEWEST_AT].value == pytest.approx(epoch(newest), abs=1e-3), table
            assert metadata[DURATION_S].value > 0
            assert metadata[ROW_COUNT].value == count  # the table's rows: a first load moves them all
            assert "updated_at" in {c.name for c in metadata[COLUMN_SCHEMA].value.columns}


def test_log_lines_of_a_partitioned_run_name_the_run_and_the_partition(platform_env, landing_folder):
    with file_defs() as defs, dg.instance_for_test() as instance:
        result = run_range(defs, "2026-01-02", instance=instance)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    lines = [m for m in messages if "rows loaded" in m]
    assert lines, messages
    prefix = f"[run={result.run_id[:8]} partition=2026-01-02]"
    assert all(line.startswith(prefix) for line in lines), lines
