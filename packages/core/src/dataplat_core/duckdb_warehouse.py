"""The `Warehouse` on a DuckDB file (local, staging): a `DuckDBResource` that waits for the file's lock.

DuckDB allows one writer process per file. A second process opening it gets
`IO Error: Could not set lock on file "...": Conflicting lock is held in <exe> (PID n)`. Runs of the platform
serialise through the `warehouse` concurrency pool, but anything else (a notebook, the DuckDB CLI, a run of
another instance) can still hold the file. `WarehouseDuckDB.get_connection()` then retries with exponential
backoff (and jitter) for up to `lock_timeout_s` seconds and fails with `WarehouseLocked`, naming the file, the
process holding it and how long it waited. Any other error is raised at once.

`lock_timeout_s` unset means `WAREHOUSE_LOCK_TIMEOUT_S` from the run worker's environment, else 30 seconds.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from dagster_sling import SlingConnectionResource
from pydantic import Field

from dataplat_core.warehouse import MISSING_CATEGORY, Warehouse, WarehouseBusy, quote_identifier, quote_table

LOCK_TIMEOUT_VAR = "WAREHOUSE_LOCK_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 30.0
_FIRST_DELAY_S, _MAX_DELAY_S = 0.05, 1.0
# DuckDB's error when another process holds the file (its CLI, the library, or Sling's CLI report it alike).
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<path>[^"]*)": Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)'
)


class WarehouseLocked(WarehouseBusy):
    """The warehouse file stayed locked by another process for the whole lock timeout."""

    def __init__(
        self, path: str, holder_pid: int | None, holder: str | None, waited_s: float, detail: str
    ) -> None:
        self.path, self.holder_pid, self.holder, self.waited_s = path, holder_pid, holder, waited_s
        who = f"process {holder_pid} ({holder})" if holder_pid is not None else "another process"
        super().__init__(
            f"warehouse DuckDB file {path} is locked by {who}; gave up after waiting {waited_s:.1f}s "
            f"(set {LOCK_TIMEOUT_VAR} to wait longer). DuckDB allows one writing process per file: stop that "
            f"process or let it finish. DuckDB said: {detail}"
        )


def lock_holder(exc: BaseException) -> tuple[int | None, str | None] | None:
    """`(pid, executable)` of the process holding the file if `exc` is DuckDB's lock conflict, else None."""
    if not isinstance(exc, duckdb.IOException) or "Could not set lock" not in str(exc):
        return None
    match = LOCK_CONFLICT.search(str(exc))
    return (int(match["pid"]), match["exe"]) if match else (None, None)


def lock_timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(LOCK_TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{LOCK_TIMEOUT_VAR}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"{LOCK_TIMEOUT_VAR}={raw!r} must not be negative")
    return value


def connect_waiting_for_lock(
    database: str,
    *,
    timeout_s: float,
    read_only: bool = False,
    config: Mapping[str, Any] | None = None,
    on_wait: Callable[[int | None, str | None, float], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, retried while another process holds the file's lock, for up to `timeout_s` seconds.

    `on_wait(pid, executable, waited_s)` is called before each wait (e.g. to log it). Raises `WarehouseLocked`
    when the deadline passes; any other error at once.
    """
    started = time.monotonic()
    delay = _FIRST_DELAY_S
    while True:
        try:
            return duckdb.connect(database=database, read_only=read_only, config=dict(config or {}))
        except duckdb.IOException as exc:
            holder = lock_holder(exc)
            if holder is None:
                raise
            waited = time.monotonic() - started
            remaining = timeout_s - waited
            if remaining <= 0:
                raise WarehouseLocked(database, holder[0], holder[1], waited, str(exc)) from exc
            if on_wait is not None:
                on_wait(holder[0], holder[1], waited)
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2, _MAX_DELAY_S)


class WarehouseDuckDB(Warehouse, DuckDBResource):
    """The `Warehouse` on a DuckDB file: a `DuckDBResource` whose connections wait for another process's lock
    on the file (see module docs)."""

    dialect: ClassVar[str] = "duckdb"

    lock_timeout_s: float | None = Field(
        default=None,
        description=f"Seconds to wait for another process's lock on the file; unset: ${LOCK_TIMEOUT_VAR}, "
        f"else {DEFAULT_LOCK_TIMEOUT_S:g}.",
    )

    def effective_lock_timeout(self) -> float:
        return self.lock_timeout_s if self.lock_timeout_s is not None else lock_timeout_from_env()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        log = dg.get_dagster_logger()
        logged: set[int | None] = set()

        def on_wait(pid: int | None, exe: str | None, waited: float) -> None:
            if pid not in logged:  # once per holder, not once per retry
                logged.add(pid)
                log.warning(
                    f"warehouse {self.database} is locked by process {pid} ({exe}); waiting up to "
                    f"{self.effective_lock_timeout():g}s for it"
                )

        conn = connect_waiting_for_lock(
            self.database,
            timeout_s=self.effective_lock_timeout(),
            config={"custom_user_agent": "dagster", **self.connection_config},
            on_wait=on_wait,
        )
        try:
            yield conn
        finally:  # the base class closes only on success: a connection left open keeps the file locked
            conn.close()

    def run_sql(
        self, conn: Any, sql: str, params: Sequence[Any] | None
    ) -> tuple[list[str] | None, list[tuple]]:
        result = conn.execute(sql, list(params or []))
        if not result.description:
            return None, []
        return [d[0] for d in result.description], [tuple(r) for r in result.fetchall()]

    def read_columns(
        self,
        table: str,
        columns: Sequence[str],
        order_by: str,
        categorical: Sequence[str],
        float32: Sequence[str],
    ) -> tuple[Any, dict[str, list[str]]]:
        """A text column fetched as text costs one Python string per row (~60 bytes each, and DuckDB's
        conversion buffer on top): at 1.7M rows three categoricals were ~320 MiB of a 380 MiB frame. So each
        categorical is fetched as an integer code (its position in the column's sorted distinct values, read
        first in the same transaction, so both see one snapshot)."""
        quoted = quote_table(table)
        categories: dict[str, list[str]] = {}
        with self.get_connection() as conn:
            conn.execute("begin transaction")
            try:
                params: list[Any] = []
                select = []
                for c in columns:
                    if c in categorical:
                        text = f"coalesce(cast({c} as varchar), ?)"
                        rows = conn.execute(
                            f"select distinct {text} from {quoted} order by 1", [MISSING_CATEGORY]
                        )
                        categories[c] = [value for (value,) in rows.fetchall()]
                        # position in the list of categories (a parameter), 1-based in SQL
                        select.append(f"cast(list_position(?, {text}) - 1 as integer) as {c}")
                        params += [categories[c], MISSING_CATEGORY]
                    elif c in float32:
                        select.append(f"cast({c} as float) as {c}")
                    else:
                        select.append(c)
                frame = conn.execute(
                    f"select {', '.join(select)} from {quoted} order by {order_by}", params
                ).df()
            finally:
                conn.execute("commit")
        return frame, categories

    def write_frame(self, table: str, frame: Any) -> None:
        schema, _ = table.split(".")
        with self.get_connection() as conn:
            conn.execute(f"create schema if not exists {quote_identifier(schema)}")
            conn.register("_frame_to_write", frame)
            try:
                conn.execute(f"create or replace table {quote_table(table)} as select * from _frame_to_write")
            finally:
                conn.unregister("_frame_to_write")

    def sling_connection(self, name: str) -> SlingConnectionResource:
        return SlingConnectionResource(name=name, type="duckdb", instance=str(self.database))

    def dlt_destination(self) -> tuple[str, dict[str, Any]]:
        # One load job at a time (dlt runs them in threads, one DuckDB connection each). DuckDB 1.4.4 can reuse
        # the blocks of a table that one connection dropped (a merge's staging table) while another's optimistic
        # write still names them in the WAL; a load killed then left a file whose WAL replay fails on a block
        # checksum (seen once under load in `api_sources/tests/test_load_crash.py`; duckdb/duckdb#21067 and
        # #21285, fixed after 1.4.4, the version the platform pins to match Sling's DuckDB CLI). A single writer
        # gains little from parallel jobs anyway.
        return "duckdb", {"credentials": str(self.database), "loader_parallelism_strategy": "sequential"}

    def wait_until_writable(self) -> None:
        """Take and release the file's lock, waiting for it (`lock_timeout_s`): Sling's DuckDB CLI does not
        wait for another process's lock, and Sling 1.4.11 can hang when its CLI fails to open a locked file.
        Raises `WarehouseLocked` naming the holder."""
        with self.get_connection():
            pass


def copy_from_postgres(
    conn: Any,
    dsn: str,
    tables: Sequence[str],
    *,
    source_schema: str = "shop",
    target_schema: str = "raw_shop",
) -> None:
    """Copy whole PostgreSQL tables into a DuckDB connection with DuckDB's postgres scanner (extensions from the
    wheels: open `conn` with `binaries.duckdb_connection_config()`). The physical bound for any replication,
    and how tests and benchmarks seed a warehouse from the sandbox's real database."""
    conn.execute("load postgres")
    conn.execute(f"attach '{dsn}' as pg_source (type postgres, read_only)")
    try:
        conn.execute(f"create schema if not exists {quote_identifier(target_schema)}")
        for table in tables:
            source = f"pg_source.{quote_identifier(source_schema)}.{quote_identifier(table)}"
            conn.execute(
                f"create or replace table {quote_table(f'{target_schema}.{table}')} as select * from {source}"
            )
    finally:
        conn.execute("detach pg_source")
