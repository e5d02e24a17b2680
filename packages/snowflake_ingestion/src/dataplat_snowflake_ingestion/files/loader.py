"""Load one file into one partition of a DuckDB table: DuckDB's own CSV reader, rejects kept, one transaction.

The fast path: `read_csv` with the declared types (no sniffing, parallel) writes straight into the table,
and `store_rejects` sends rows that fail a cast to temporary tables instead of failing the whole file.
Deleting the partition, inserting the file and replacing the partition's rejects happen in ONE
transaction: a re-run replaces, a crash (DuckDB's WAL is replayed without the uncommitted transaction)
leaves the previous state of the partition.
"""

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from dataplat_snowflake_ingestion.files.model import (
    LOADED_AT_COLUMN,
    PARTITION_COLUMN,
    REJECT_COLUMNS,
    FileSpec,
    LoadResult,
    StepHook,
)
from dataplat_snowflake_ingestion.files.schema import (
    LoadPlan,
    SchemaDriftError,
    detect_drift,
    inspect_file,
    plan_load,
    unparseable,
)

# DuckDB keeps rejects in per-connection temporary tables; fixed names, dropped before every load.
_REJECT_ERRORS = "_dataplat_reject_errors"
_REJECT_SCANS = "_dataplat_reject_scans"
LINEAGE_COLUMNS = (PARTITION_COLUMN, LOADED_AT_COLUMN)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _noop(_step: str) -> None:
    return None


class DuckDBFileLoader:
    """The DuckDB strategy. `connect` is `DuckDBResource.get_connection` (or any context manager of a
    `duckdb.DuckDBPyConnection`)."""

    kind = "duckdb"

    def __init__(self, spec: FileSpec, connect: Callable[[], AbstractContextManager[Any]]):
        self.spec = spec
        self._connect = connect

    def ensure_tables(self, conn: Any) -> None:
        spec, q = self.spec, FileSpec.q
        conn.execute(f"create schema if not exists {q(spec.schema)}")
        # No PRIMARY KEY constraint: an index makes every bulk insert slower, and uniqueness is an asset
        # check (blocking) instead, which reports the duplicates rather than failing mid-load.
        columns = [f"{q(c)} {t}" for c, t in spec.columns.items()]
        columns += [f"{q(PARTITION_COLUMN)} DATE NOT NULL", f"{q(LOADED_AT_COLUMN)} TIMESTAMP"]
        conn.execute(f"create table if not exists {spec.quoted()} ({', '.join(columns)})")
        rejects = ", ".join(f"{q(c)} {t}" for c, t in REJECT_COLUMNS)
        conn.execute(f"create table if not exists {spec.quoted_rejects()} ({rejects})")

    def table_columns(self, conn: Any) -> list[str]:
        schema, table = self.spec.table.split(".")
        rows = conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
        return [r[0] for r in rows]

    def load(self, partition_key: str, path: Path, *, hook: StepHook | None = None) -> LoadResult:
        """Replace partition `partition_key` with the rows of `path`. Raises `FileProblem` or
        `SchemaDriftError` (naming the file) before touching the table when the file cannot be loaded."""
        started = time.perf_counter()
        spec, hook = self.spec, hook or _noop
        inspection = inspect_file(path, spec.columns, spec.delimiter)
        drift = detect_drift(inspection, spec.columns, spec.delimiter)
        clash = [c for c in inspection.header if c in LINEAGE_COLUMNS]
        if clash:
            raise SchemaDriftError(
                f"{path}: column(s) {', '.join(clash)} clash with the loader's lineage columns"
            )
        with self._connect() as conn:
            # dagster-duckdb's get_connection closes only on success; a connection left open by an exception
            # would keep the database file locked for the rest of the process.
            try:
                self.ensure_tables(conn)
                existing = self.table_columns(conn)
                plan = plan_load(
                    inspection, drift, spec.columns, existing, spec.primary_key, spec.drift_policy
                )
                # A column added to the YAML declaration after the table was created is added here too.
                grow = [(c, t) for c, t in spec.columns.items() if c not in existing]
                try:
                    loaded, rejected = self._replace_partition(conn, partition_key, path, plan, grow, hook)
                except duckdb.InvalidInputException as exc:  # rolled back: the partition is as it was
                    raise unparseable(path, exc) from exc
                newest = self.newest(conn, partition_key)
            finally:
                conn.close()
        return LoadResult(
            partition_key=partition_key,
            file=path,
            bytes=inspection.bytes,
            data_lines=inspection.data_lines,
            rows_loaded=loaded,
            rows_rejected=rejected,
            seconds=time.perf_counter() - started,
            drift=drift,
            added_columns=tuple(c for c, _ in [*grow, *plan.add_columns]),
            source_newest_at=newest,
        )

    def newest(self, conn: Any, partition_key: str) -> datetime | None:
        """max(timestamp_column) of the partition just loaded (None without a timestamp column or rows)."""
        if self.spec.timestamp_column is None:
            return None
        q = FileSpec.q
        (value,) = conn.execute(
            f"select max({q(self.spec.timestamp_column)}) from {self.spec.quoted()} "
            f"where {q(PARTITION_COLUMN)} = ?::DATE",
            [partition_key],
        ).fetchone()
        return value

    def read_csv_sql(self, plan: LoadPlan) -> str:
        """The reader with the declared types: no sniffing (the header was checked), rejects kept."""
        columns = "{" + ", ".join(f"{_sql_string(c)}: {_sql_string(t)}" for c, t in plan.file_columns) + "}"
        delimiter = _sql_string(self.spec.delimiter)
        return (
            f"read_csv(?, columns={columns}, header=true, delim={delimiter}, quote='\"', escape='\"', "
            f"auto_detect=false, store_rejects=true, rejects_table='{_REJECT_ERRORS}', "
            f"rejects_scan='{_REJECT_SCANS}')"
        )

    def _replace_partition(
        self, conn: Any, partition_key: str, path: Path, plan: LoadPlan, grow: list, hook: StepHook
    ) -> tuple[int, int]:
        spec, q = self.spec, FileSpec.q
        now = datetime.now(UTC).replace(tzinfo=None)
        for temp in (_REJECT_ERRORS, _REJECT_SCANS):
            conn.execute(f"drop table if exists temp.main.{temp}")
        conn.execute("begin transaction")
        try:
            # DuckDB's DDL is transactional: an evolved column appears together with the rows that need it.
            for name, type_ in [*grow, *plan.add_columns]:
                conn.execute(f"alter table {spec.quoted()} add column {q(name)} {type_}")
            conn.execute(
                f"delete from {spec.quoted()} where {q(PARTITION_COLUMN)} = ?::DATE", [partition_key]
            )
            hook("deleted")
            # BY NAME: the file's columns in the file's order; columns the file lacks stay NULL.
            (loaded,) = conn.execute(
                f"insert into {spec.quoted()} by name select *, ?::DATE as {q(PARTITION_COLUMN)}, "
                f"?::TIMESTAMP as {q(LOADED_AT_COLUMN)} from {self.read_csv_sql(plan)}",
                [partition_key, now, str(path)],
            ).fetchone()
            hook("inserted")
            conn.execute(
                f"delete from {spec.quoted_rejects()} where partition_date = ?::DATE", [partition_key]
            )
            conn.execute(
                f"insert into {spec.quoted_rejects()} select ?::DATE, ?, line, column_name, error_type::VARCHAR, "
                f"error_message, csv_line, ?::TIMESTAMP from temp.main.{_REJECT_ERRORS} order by line",
                [partition_key, str(path), now],
            )
            (rejected,) = conn.execute(
                f"select count(distinct line) from temp.main.{_REJECT_ERRORS}"
            ).fetchone()
            hook("rejects")
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        return int(loaded), int(rejected)
