"""The local warehouse resource: a `DuckDBResource` that waits for the file's lock instead of failing at once.

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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

LOCK_TIMEOUT_VAR = "WAREHOUSE_LOCK_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 30.0
_FIRST_DELAY_S, _MAX_DELAY_S = 0.05, 1.0
# DuckDB's error when another process holds the file (its CLI, the library, or Sling's CLI report it alike).
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<path>[^"]*)": Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)'
)


class WarehouseLocked(RuntimeError):
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


class WarehouseDuckDB(DuckDBResource):
    """`DuckDBResource` whose connections wait for another process's lock on the file (see module docs)."""

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
