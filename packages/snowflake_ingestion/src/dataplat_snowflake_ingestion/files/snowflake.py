"""Load one file into one partition of a Snowflake table: PUT to a stage, COPY INTO a staging table with
ON_ERROR=CONTINUE, then ONE transaction that deletes the partition and inserts the staged rows.

The file is inspected locally first (same checks and drift policy as on DuckDB). Snowflake commits DDL
implicitly, so every DDL statement (schema, tables, stage, evolved columns) runs before the transaction;
adding a nullable column is harmless if the transaction that needs it then fails.
"""

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataplat_core.warehouse import quote_table

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
    detect_drift,
    inspect_file,
    plan_load,
    snowflake_type,
)

_QUERY_ID = re.compile(r"^[0-9A-Za-z-]{1,64}\Z")


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _noop(_step: str) -> None:
    return None


class SnowflakeFileLoader:
    """The Snowflake strategy. `connect` is `SnowflakeResource.get_connection` (a context manager of a
    `snowflake.connector` connection, whose `cursor()` runs one statement at a time)."""

    kind = "snowflake"

    def __init__(self, spec: FileSpec, connect: Callable[[], AbstractContextManager[Any]]):
        self.spec = spec
        self._connect = connect

    # -- SQL, as pure functions of the config, so the exact statements are testable without Snowflake --

    @property
    def stage(self) -> str:
        return quote_table(f"{self.spec.table}_stage")

    def staging_table(self, partition_key: str) -> str:
        return quote_table(f"{self.spec.table}__load_{partition_key.replace('-', '')}")

    def setup_sql(self) -> list[str]:
        spec, q = self.spec, FileSpec.q
        columns = [f"{q(c)} {snowflake_type(t)}" for c, t in spec.columns.items()]
        columns += [f"{q(PARTITION_COLUMN)} DATE NOT NULL", f"{q(LOADED_AT_COLUMN)} TIMESTAMP_NTZ"]
        rejects = ", ".join(f"{q(c)} {snowflake_type(t)}" for c, t in REJECT_COLUMNS)
        return [
            f"CREATE SCHEMA IF NOT EXISTS {q(spec.schema)}",
            f"CREATE TABLE IF NOT EXISTS {spec.quoted()} ({', '.join(columns)})",
            f"CREATE TABLE IF NOT EXISTS {spec.quoted_rejects()} ({rejects})",
            f"CREATE STAGE IF NOT EXISTS {self.stage}",
        ]

    def file_format(self) -> str:
        return (
            f"FILE_FORMAT=(TYPE=CSV FIELD_DELIMITER={_string(self.spec.delimiter)} SKIP_HEADER=1 "
            "FIELD_OPTIONALLY_ENCLOSED_BY='\"' EMPTY_FIELD_AS_NULL=TRUE ERROR_ON_COLUMN_COUNT_MISMATCH=TRUE "
            "TIMESTAMP_FORMAT=AUTO)"
        )

    def stage_sql(self, partition_key: str, path: Path, plan: LoadPlan) -> list[str]:
        q, staging = FileSpec.q, self.staging_table(partition_key)
        columns = ", ".join(f"{q(c)} {snowflake_type(t)}" for c, t in plan.file_columns)
        names = ", ".join(q(c) for c, _ in plan.file_columns)
        return [
            f"PUT {_string('file://' + str(path.resolve()))} @{self.stage}/{partition_key} "
            "AUTO_COMPRESS=TRUE OVERWRITE=TRUE",
            f"CREATE OR REPLACE TEMPORARY TABLE {staging} ({columns})",
            f"COPY INTO {staging} ({names}) FROM @{self.stage}/{partition_key}/ {self.file_format()} "
            "ON_ERROR=CONTINUE PURGE=TRUE",
        ]

    def transaction_sql(self, partition_key: str, plan: LoadPlan, copy_query_id: str) -> list[str]:
        if not _QUERY_ID.match(copy_query_id):
            raise ValueError(f"unexpected Snowflake query id {copy_query_id!r}")
        spec, q, staging = self.spec, FileSpec.q, self.staging_table(partition_key)
        names = ", ".join(q(c) for c, _ in plan.file_columns)
        lineage = f"{q(PARTITION_COLUMN)}, {q(LOADED_AT_COLUMN)}"
        reject_names = ", ".join(q(c) for c, _ in REJECT_COLUMNS)
        return [
            "BEGIN",
            f"DELETE FROM {spec.quoted()} WHERE {q(PARTITION_COLUMN)} = %(partition)s",
            f"INSERT INTO {spec.quoted()} ({names}, {lineage}) "
            f"SELECT {names}, %(partition)s, %(loaded_at)s FROM {staging}",
            f"DELETE FROM {spec.quoted_rejects()} WHERE {q('partition_date')} = %(partition)s",
            f"INSERT INTO {spec.quoted_rejects()} ({reject_names}) "
            f'SELECT %(partition)s, %(file)s, "LINE", "COLUMN_NAME", "CATEGORY", "ERROR", "REJECTED_RECORD", '
            f"%(loaded_at)s FROM TABLE(VALIDATE({staging}, JOB_ID => '{copy_query_id}'))",
            "COMMIT",
        ]

    # -- execution --

    def load(self, partition_key: str, path: Path, *, hook: StepHook | None = None) -> LoadResult:
        started = time.perf_counter()
        spec, hook, q = self.spec, hook or _noop, FileSpec.q
        inspection = inspect_file(path, spec.columns, spec.delimiter)
        drift = detect_drift(inspection, spec.columns, spec.delimiter)
        params = {
            "partition": partition_key,
            "file": str(path),
            "loaded_at": datetime.now(UTC).replace(tzinfo=None),
        }
        with self._connect() as conn:
            cur = conn.cursor()
            try:
                for sql in self.setup_sql():
                    cur.execute(sql)
                schema, table = spec.table.split(".")
                cur.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %(schema)s AND table_name = %(table)s ORDER BY ordinal_position",
                    {"schema": schema, "table": table},
                )
                existing = [r[0] for r in cur.fetchall()]
                plan = plan_load(
                    inspection, drift, spec.columns, existing, spec.primary_key, spec.drift_policy
                )
                grow = [(c, t) for c, t in spec.columns.items() if c not in existing]
                for name, type_ in [*grow, *plan.add_columns]:
                    cur.execute(f"ALTER TABLE {spec.quoted()} ADD COLUMN {q(name)} {snowflake_type(type_)}")
                put, create, copy = self.stage_sql(partition_key, path, plan)
                cur.execute(put)
                cur.execute(create)
                cur.execute(copy)
                # COPY returns one row per file: (file, status, rows_parsed, rows_loaded, error_limit, ...).
                copied = cur.fetchall()
                parsed = sum(int(r[2] or 0) for r in copied)
                loaded = sum(int(r[3] or 0) for r in copied)
                transaction = self.transaction_sql(partition_key, plan, cur.sfqid)
                try:
                    for i, sql in enumerate(transaction):
                        cur.execute(sql, params if "%(" in sql else None)
                        hook(f"statement {i}")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
            finally:
                cur.close()
        return LoadResult(
            partition_key=partition_key,
            file=path,
            bytes=inspection.bytes,
            data_lines=inspection.data_lines,
            rows_loaded=loaded,
            rows_rejected=parsed - loaded,
            seconds=time.perf_counter() - started,
            drift=drift,
            added_columns=tuple(c for c, _ in [*grow, *plan.add_columns]),
        )
