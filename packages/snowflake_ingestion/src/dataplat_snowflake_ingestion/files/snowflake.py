"""Load one file into one partition of a Snowflake table: write (PUT, COPY INTO a temporary staging table
with ON_ERROR=CONTINUE), audit (the same `audit_delivery` as on DuckDB, from queries on the staging table),
then publish in ONE transaction, or put the refused delivery in `<table>_quarantine` and leave the
partition as it was.

The file is inspected locally first (same checks, completeness rule and drift policy as on DuckDB).
Snowflake commits DDL implicitly, so every DDL statement (schema, tables, stage, evolved columns) runs
before the transaction; adding a nullable column is harmless if the transaction that needs it then fails.
Snowflake cannot address a parsed row by its position in the file (VALIDATE does not support COPY with a
transformation, which METADATA$FILE_ROW_NUMBER would need), so rows rejected after parsing (outside the
partition, refused) carry no line number here, and a last record without its line end is cut off locally:
the file's complete part is uploaded and the cut record is a reject.
"""

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataplat_core.warehouse import quote_table

from dataplat_snowflake_ingestion.files.audit import DeliveryFigures, refusal
from dataplat_snowflake_ingestion.files.completeness import await_delivery
from dataplat_snowflake_ingestion.files.identity import sha256_started
from dataplat_snowflake_ingestion.files.model import (
    LOADED_AT_COLUMN,
    PARTITION_COLUMN,
    REJECT_COLUMNS,
    FileSpec,
    LoadResult,
    StepHook,
)
from dataplat_snowflake_ingestion.files.schema import (
    FileInspection,
    LoadPlan,
    detect_drift,
    inspect_file,
    plan_load,
    snowflake_type,
    tail_bytes,
    tail_text,
)

_QUERY_ID = re.compile(r"^[0-9A-Za-z-]{1,64}\Z")


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _noop(_step: str) -> None:
    return None


class SnowflakeFileLoader:
    """The Snowflake strategy. `connect` is `WarehouseSnowflake.get_connection` (a context manager of a
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
            f"CREATE TABLE IF NOT EXISTS {spec.quoted_quarantine()} ({rejects})",
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

    def _outside(self) -> str:
        q = FileSpec.q(self.spec.date_column)
        return f"({q} IS NULL OR {q}::DATE <> %(partition)s::DATE)"

    def _row_text(self, plan: LoadPlan) -> str:
        values = ", ".join(f"COALESCE({FileSpec.q(c)}::VARCHAR, '')" for c, _ in plan.file_columns)
        return f"CONCAT_WS({_string(self.spec.delimiter)}, {values})"

    def audit_sql(self, partition_key: str) -> list[str]:
        """Figures of the staged delivery: (parsed, null keys, outside), repeated keys, keys elsewhere."""
        spec, q, staging = self.spec, FileSpec.q, self.staging_table(partition_key)
        keys = ", ".join(q(c) for c in spec.primary_key)
        null_key = " OR ".join(f"{q(c)} IS NULL" for c in spec.primary_key)
        outside = f"COUNT_IF({self._outside()})" if spec.date_column else "0"
        on = " AND ".join(f"s.{q(c)} = t.{q(c)}" for c in spec.primary_key)
        return [
            f"SELECT COUNT(*), COUNT_IF({null_key}), {outside} FROM {staging}",
            f"SELECT COUNT(*) FROM (SELECT {keys} FROM {staging} GROUP BY {keys} HAVING COUNT(*) > 1)",
            f"SELECT COUNT(*), LISTAGG(DISTINCT d, ',') WITHIN GROUP (ORDER BY d) FROM (SELECT "
            f"{', '.join(f's.{q(c)}' for c in spec.primary_key)}, MIN(t.{q(PARTITION_COLUMN)})::VARCHAR AS d "
            f"FROM {staging} s JOIN {spec.quoted()} t ON {on} AND t.{q(PARTITION_COLUMN)} <> %(partition)s::DATE "
            f"GROUP BY {', '.join(f's.{q(c)}' for c in spec.primary_key)})",
        ]

    def _rejects_sql(self, table: str, staging: str, copy_query_id: str, tail: bool) -> list[str]:
        reject_names = ", ".join(FileSpec.q(c) for c, _ in REJECT_COLUMNS)
        statements = [
            f"INSERT INTO {table} ({reject_names}) "
            f'SELECT %(partition)s, %(file)s, "LINE", "COLUMN_NAME", "CATEGORY", "ERROR", "REJECTED_RECORD", '
            f"%(loaded_at)s FROM TABLE(VALIDATE({staging}, JOB_ID => '{copy_query_id}'))"
        ]
        if tail:
            statements.append(
                f"INSERT INTO {table} ({reject_names}) VALUES (%(partition)s, %(file)s, %(tail_line)s, NULL, "
                "'NO LINE END', %(tail_reason)s, %(tail_text)s, %(loaded_at)s)"
            )
        return statements

    def transaction_sql(
        self,
        partition_key: str,
        plan: LoadPlan,
        copy_query_id: str,
        *,
        outside: bool = False,
        tail: bool = False,
    ) -> list[str]:
        """Publish: replace the partition with the staged rows and its rejects, in one transaction."""
        if not _QUERY_ID.match(copy_query_id):
            raise ValueError(f"unexpected Snowflake query id {copy_query_id!r}")
        spec, q, staging = self.spec, FileSpec.q, self.staging_table(partition_key)
        names = ", ".join(q(c) for c, _ in plan.file_columns)
        lineage = f"{q(PARTITION_COLUMN)}, {q(LOADED_AT_COLUMN)}"
        reject_names = ", ".join(q(c) for c, _ in REJECT_COLUMNS)
        moves = []
        if outside:  # rows dated on another day: rejects with their reason, not published
            column = q(spec.date_column)
            moves = [
                f"INSERT INTO {spec.quoted_rejects()} ({reject_names}) SELECT %(partition)s, %(file)s, NULL, "
                f"{_string(spec.date_column)}, 'OUTSIDE PARTITION', {_string(spec.date_column + ' ')} || "
                f"COALESCE({column}::VARCHAR, 'NULL') || ' is not in partition ' || %(partition)s, "
                f"{self._row_text(plan)}, %(loaded_at)s FROM {staging} WHERE {self._outside()}",
                f"DELETE FROM {staging} WHERE {self._outside()}",
            ]
        return [
            "BEGIN",
            f"DELETE FROM {spec.quoted()} WHERE {q(PARTITION_COLUMN)} = %(partition)s",
            f"DELETE FROM {spec.quoted_rejects()} WHERE {q('partition_date')} = %(partition)s",
            *moves,
            f"INSERT INTO {spec.quoted()} ({names}, {lineage}) "
            f"SELECT {names}, %(partition)s, %(loaded_at)s FROM {staging}",
            *self._rejects_sql(spec.quoted_rejects(), staging, copy_query_id, tail),
            f"DELETE FROM {spec.quoted_quarantine()} WHERE {q('partition_date')} = %(partition)s",
            "COMMIT",
        ]

    def quarantine_sql(
        self, partition_key: str, plan: LoadPlan, copy_query_id: str, *, tail: bool
    ) -> list[str]:
        """Refused: the delivery (its rejects, and every parsed row with the refusal) into quarantine."""
        if not _QUERY_ID.match(copy_query_id):
            raise ValueError(f"unexpected Snowflake query id {copy_query_id!r}")
        spec, q, staging = self.spec, FileSpec.q, self.staging_table(partition_key)
        reject_names = ", ".join(q(c) for c, _ in REJECT_COLUMNS)
        return [
            "BEGIN",
            f"DELETE FROM {spec.quoted_quarantine()} WHERE {q('partition_date')} = %(partition)s",
            *self._rejects_sql(spec.quoted_quarantine(), staging, copy_query_id, tail),
            f"INSERT INTO {spec.quoted_quarantine()} ({reject_names}) SELECT %(partition)s, %(file)s, NULL, NULL, "
            f"'REFUSED', %(refusal)s, {self._row_text(plan)}, %(loaded_at)s FROM {staging}",
            "COMMIT",
        ]

    # -- execution --

    def load(self, partition_key: str, path: Path, *, hook: StepHook | None = None) -> LoadResult:
        started = time.perf_counter()
        spec, hook, q = self.spec, hook or _noop, FileSpec.q
        delivery = await_delivery(path, spec.completeness)
        digest = sha256_started(path)  # the identity recorded in the materialization
        inspection = inspect_file(
            path, spec.columns, spec.delimiter, case_sensitive=spec.case_sensitive_header
        )
        delivery.require_line_end(inspection.ends_with_newline)
        drift = detect_drift(inspection, spec.columns, spec.delimiter)
        tail = not inspection.ends_with_newline
        params = {
            "partition": partition_key,
            "file": str(path),
            "loaded_at": datetime.now(UTC).replace(tzinfo=None),
            "tail_line": inspection.last_record_line,
            "tail_reason": "the last record has no line end: the file was cut short; the record is not loaded",
            "tail_text": tail_text(path) if tail else None,
        }
        with self._connect() as conn:
            cur = conn.cursor()

            def run(statements: list[str], extra: dict | None = None, *, steps: bool = False) -> None:
                for i, sql in enumerate(statements):
                    cur.execute(sql, {**params, **(extra or {})} if "%(" in sql else None)
                    if steps:
                        hook(f"statement {i}")

            try:
                run(self.setup_sql())
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
                with _complete_part(path, inspection) as upload:
                    put, create, copy = self.stage_sql(partition_key, upload, plan)
                    cur.execute(put)
                delivery.state.unchanged_since()
                identity = delivery.state.identity(digest.result())
                cur.execute(create)
                cur.execute(copy)
                # COPY returns one row per file: (file, status, rows_parsed, rows_loaded, error_limit, ...).
                copied = cur.fetchall()
                copy_id = cur.sfqid
                parsed = sum(int(r[2] or 0) for r in copied)
                staged = sum(int(r[3] or 0) for r in copied)
                figures = self._measure(cur, params, inspection, parsed, staged, tail, delivery.stated_rows)
                audits = spec.audit(figures, partition_key)
                published = not any(a.refuses for a in audits)
                try:
                    if published:
                        run(
                            self.transaction_sql(
                                partition_key, plan, copy_id, outside=figures.outside > 0, tail=tail
                            ),
                            steps=True,
                        )
                    else:
                        why = f"delivery refused, not published: {refusal(audits)}"
                        run(self.quarantine_sql(partition_key, plan, copy_id, tail=tail), {"refusal": why})
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
            finally:
                cur.close()
        return LoadResult(
            partition_key=partition_key,
            file=path,
            bytes=inspection.bytes,
            data_lines=figures.data_lines,
            rows_loaded=figures.rows_loaded if published else 0,
            rows_rejected=figures.rows_rejected,
            seconds=time.perf_counter() - started,
            drift=drift,
            added_columns=tuple(c for c, _ in [*grow, *plan.add_columns]),
            audits=tuple(audits),
            published=published,
            identity=identity,
        )

    def _measure(
        self,
        cur: Any,
        params: dict,
        inspection: FileInspection,
        parsed: int,
        staged: int,
        tail: bool,
        stated_rows: int | None,
    ) -> DeliveryFigures:
        results = []
        for sql in self.audit_sql(params["partition"]):
            cur.execute(sql, params if "%(" in sql else None)
            results.append(cur.fetchall()[0])
        (_, null_keys, outside), (duplicates,), (elsewhere, partitions) = results
        if parsed + tail != inspection.data_lines:
            inspection = inspection.exact()  # blank lines are not records
        return DeliveryFigures(
            data_lines=inspection.data_lines,
            parsed_rows=staged,
            malformed=parsed - staged + (1 if tail else 0),
            outside=int(outside or 0),
            null_keys=int(null_keys or 0),
            duplicate_keys=int(duplicates or 0),
            keys_elsewhere=int(elsewhere or 0),
            other_partitions=tuple((partitions or "").split(",")[:5]) if partitions else (),
            stated_rows=stated_rows,
        )


@contextmanager
def _complete_part(path: Path, inspection: FileInspection) -> Iterator[Path]:
    """The file to upload: `path` itself, or, when its last record has no line end, a copy of everything up to
    the last line end under the same name in a private folder removed right after the upload."""
    if inspection.ends_with_newline:
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="dataplat-upload-"))
    try:
        keep = path.stat().st_size - len(tail_bytes(path))
        with path.open("rb") as src, (folder / path.name).open("wb") as dst:
            shutil.copyfileobj(_Limited(src, keep), dst)
        yield folder / path.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Limited:
    """A reader of the first `limit` bytes of `fh` (for shutil.copyfileobj)."""

    def __init__(self, fh: Any, limit: int):
        self.fh, self.left = fh, limit

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(size)
        self.left -= len(data)
        return data
