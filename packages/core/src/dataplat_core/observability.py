"""What every load reports and how it behaves when something goes wrong, in one place for every component.

- `load_metadata(...)` / `LoadStats`: the materialization metadata every load records, under fixed keys
  (`dataplat/rows_read`, `dataplat/rows_loaded`, `dataplat/rows_rejected`, `dataplat/source_newest_at`,
  `dataplat/duration_s`): what the load moved.
- `table_metadata(warehouse, table)`: what the table holds after it, under Dagster's own keys
  (`dagster/row_count`: all its rows; `dagster/column_schema`: its columns), for every asset that is a table.
- `load_logger(context)`: the step's logger with every line prefixed `[run=<first 8 of run id> partition=<key>]`.
- `transient_retry_policy(...)` / `StepRetry` (YAML): a Dagster retry policy with exponential backoff and jitter;
  `permanent_failure(...)` / `fail_fast_unless_transient()` make errors that a retry cannot fix fail at once.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from dataplat_core.warehouse import (
    Warehouse,
    WarehouseSession,
    fetch_one,
    information_schema_filter,
    quote_table,
)

ROWS_READ = "dataplat/rows_read"
ROWS_LOADED = "dataplat/rows_loaded"
ROWS_REJECTED = "dataplat/rows_rejected"
SOURCE_NEWEST_AT = "dataplat/source_newest_at"
DURATION_S = "dataplat/duration_s"
# Dagster's own keys (the asset page's "Row count" and "Columns"): the whole table after the run, whatever moved.
ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
# Observation of a run that found its inputs already loaded (e.g. a file partition whose file is unchanged):
# how many partitions it did not load again. The demo's summary shows them as skipped.
UNCHANGED_PARTITIONS = "dataplat/unchanged_partitions"
LOAD_METADATA_KEYS = (ROWS_READ, ROWS_LOADED, ROWS_REJECTED, SOURCE_NEWEST_AT, DURATION_S)


def _timestamp(value: datetime | date | float | None) -> dg.MetadataValue:
    """Timestamp metadata (seconds since the epoch); a naive datetime is UTC (the warehouse's convention)."""
    if value is None:
        return dg.MetadataValue.null()
    if isinstance(value, int | float):
        return dg.MetadataValue.timestamp(float(value))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return dg.MetadataValue.timestamp(value)


@dataclass(frozen=True)
class LoadStats:
    """One load's numbers. `source_newest_at`: the newest timestamp of the data loaded (e.g. max(updated_at));
    None when the load had no timestamps (recorded as null, the key is always present)."""

    rows_read: int
    rows_loaded: int
    rows_rejected: int = 0
    source_newest_at: datetime | date | float | None = None
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rows_read", "rows_loaded", "rows_rejected"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative: {getattr(self, name)}")

    def metadata(self) -> dict[str, dg.MetadataValue]:
        return {
            ROWS_READ: dg.MetadataValue.int(int(self.rows_read)),
            ROWS_LOADED: dg.MetadataValue.int(int(self.rows_loaded)),
            ROWS_REJECTED: dg.MetadataValue.int(int(self.rows_rejected)),
            SOURCE_NEWEST_AT: _timestamp(self.source_newest_at),
            DURATION_S: dg.MetadataValue.float(round(float(self.duration_s), 3)),
        }


def load_metadata(
    *,
    rows_read: int,
    rows_loaded: int,
    rows_rejected: int = 0,
    source_newest_at: datetime | date | float | None = None,
    duration_s: float = 0.0,
) -> dict[str, dg.MetadataValue]:
    """The uniform load metadata (keys `LOAD_METADATA_KEYS`); merge it into a materialization's metadata."""
    return LoadStats(rows_read, rows_loaded, rows_rejected, source_newest_at, duration_s).metadata()


def table_metadata(warehouse: Warehouse | WarehouseSession, table: str) -> dict[str, dg.MetadataValue]:
    """`dagster/row_count` (the rows `table` holds now, not the rows a run moved: a load that moved nothing
    still shows the table's size) and `dagster/column_schema` (its columns and types in the warehouse's own
    names, which Dagster's column schema change checks compare between two materializations). `table` is
    `schema.table`."""
    columns = warehouse.fetch_all(
        "select column_name, data_type from information_schema.columns "
        f"where {information_schema_filter(table)} order by ordinal_position",
    )
    (rows,) = fetch_one(warehouse, f"select count(*) from {quote_table(table)}")
    return {
        ROW_COUNT: dg.MetadataValue.int(int(rows)),
        COLUMN_SCHEMA: dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(str(c), str(t).lower()) for c, t in columns])
        ),
    }


# --- logs -----------------------------------------------------------------------------------------------


def log_prefix(context: Any) -> str:
    """`[run=<run id, first 8> partition=<key or first..last or ->]` for a step context."""
    run = getattr(context, "run", None)  # AssetExecutionContext / OpExecutionContext
    run_id = getattr(run, "run_id", None) or getattr(context, "run_id", None) or "-"
    partition = "-"
    try:
        if getattr(context, "has_partition_key_range", False):
            keys = context.partition_key_range
            partition = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
        elif getattr(context, "has_partition_key", False):
            partition = context.partition_key
    except Exception:  # a context without a resolvable partition (e.g. a multi-partition range)
        partition = "?"
    return f"[run={run_id[:8]} partition={partition}]"


class _PrefixAdapter(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[str, Any]:
        return f"{self.extra['prefix']} {msg}", kwargs


def load_logger(context: Any) -> logging.LoggerAdapter:
    """The step's logger (`context.log`: the run's event log, the UI, the compute logs) with every line
    prefixed by the run id and the partition, so a line copied out of Dagster still says which load it was."""
    return _PrefixAdapter(context.log, {"prefix": log_prefix(context)})


# --- retries --------------------------------------------------------------------------------------------

DEFAULT_MAX_RETRIES = 3
DEFAULT_DELAY_S = 2.0


def transient_retry_policy(
    max_retries: int = DEFAULT_MAX_RETRIES, delay_s: float = DEFAULT_DELAY_S
) -> dg.RetryPolicy:
    """Dagster retries the step `max_retries` times, waiting `delay_s`, then 2x, 4x ... that (jitter +/-).

    Only errors a retry can fix should reach it: raise `permanent_failure(...)` (or run the work inside
    `fail_fast_unless_transient()`) for the others, which then fail the step at once."""
    return dg.RetryPolicy(
        max_retries=max_retries,
        delay=delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def with_retry_policy(assets_def: dg.AssetsDefinition, policy: dg.RetryPolicy | None) -> dg.AssetsDefinition:
    """`assets_def` whose op has `policy`. For integration decorators without a `retry_policy` argument
    (`sling_assets`, `dlt_assets` in dagster 1.13); `@dg.asset` / `@dg.multi_asset` take it directly."""
    if policy is None:
        return assets_def
    from dagster._core.definitions.input import In
    from dagster._core.definitions.output import Out

    op = assets_def.op
    retried = dg.OpDefinition.dagster_internal_init(
        name=op.name,
        ins={d.name: In.from_definition(d) for d in op.input_defs},
        outs={d.name: Out.from_definition(d) for d in op.output_defs},
        compute_fn=op.compute_fn,
        config_schema=op.config_schema,
        description=op.description,
        tags=op.tags,
        required_resource_keys=op.required_resource_keys,
        code_version=op._version,  # noqa: SLF001 - the same copy OpDefinition.with_replaced_properties makes
        retry_policy=policy,
        version=None,
        pool=op.pool,
    )
    return dg.AssetsDefinition.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": retried}
    )


class StepRetry(dg.Model, dg.Resolvable):
    """YAML `step_retry`: Dagster re-runs a load step that failed on a transient error (exponential backoff)."""

    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, le=10)
    delay_seconds: float = Field(default=DEFAULT_DELAY_S, ge=0, le=600)

    def policy(self) -> dg.RetryPolicy | None:
        return transient_retry_policy(self.max_retries, self.delay_seconds) if self.max_retries else None


# Words in an error (or its causes) that say "try again later": the network, a server starting or
# overloaded, a lock another writer holds. Everything else (a missing table, a refused login, bad data, a
# 4xx) is permanent: retrying would fail the same way, only later.
TRANSIENT_MARKERS = (
    "connection refused",
    "connection reset",
    "connection aborted",
    "could not connect",
    "server closed the connection",
    "timed out",
    "timeout",
    "temporarily unavailable",
    "the database system is starting up",
    "the database system is shutting down",
    "too many connections",
    "could not set lock",
    "conflicting lock",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "too many requests",
    "is locked by",
    "unreachable",
    "lost its connection",
    # Sling streams rows to the DuckDB CLI it starts through a pipe; under heavy load that hand-off has
    # failed ("Failed to write to stdout pipe") with nothing wrong in the data. A re-run succeeds.
    "failed to write to stdout pipe",
    "broken pipe",
)


# An HTTP status a retry may fix, as error messages spell it ("HTTP 503", "status 429").
_TRANSIENT_STATUS = re.compile(r"\b(?:HTTP|status)[ :=]*(?:5\d\d|429|408)\b", re.IGNORECASE)
# Sling 1.4.11 reads its DuckDB CLI's answers through a pipe; under heavy load it has misread the list of
# schemas (without "main"), then failed creating the schema that exists. Its next run lists them again.
_SLING_MISREAD_SCHEMAS = re.compile(
    r'schema with name "[^"]*" already exists!?\s+for query => create schema', re.IGNORECASE
)
# The same pipe, misread the other way: the CLI's answer to Sling's column query for the temporary table Sling
# had just created came back empty ("no columns found for: select column_name ... information_schema.columns
# ... table_name = '<x>_sling_duckdb_tmp'"), then "column names mismatch: source field '' is missing". Seen
# once in a loaded run of the README's test command (two fresh clones at once); the next run reads them.
_SLING_MISREAD_COLUMNS = re.compile(
    r"no columns found for: select column_name.*?from information_schema\.columns.*?_sling_duckdb_tmp",
    re.IGNORECASE | re.DOTALL,
)
_TRANSIENT_PATTERNS = (_TRANSIENT_STATUS, _SLING_MISREAD_SCHEMAS, _SLING_MISREAD_COLUMNS)


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then its cause (or the error it happened during), and so on to the root; stops on a cycle."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def error_chain_text(exc: BaseException) -> str:
    """The messages of `exc` and of its causes, one per line: where a person finds the root cause."""
    return "\n".join(str(err) for err in error_chain(exc))


# Dagster's wrappers around the error an asset raised: their message says which op failed, not why.
_DAGSTER_WRAPPERS = (
    "DagsterExecutionStepExecutionError",
    "DagsterExecutionHandleOutputError",
    "DagsterExecutionLoadInputError",
    "DagsterUserCodeExecutionError",
)


def _message(error: Any) -> str:
    """A serialized error's message without the `module.Class: ` prefix that Dagster's error info adds."""
    head, sep, rest = error.message.strip().partition(": ")
    return rest if sep and head.split(".")[-1] == error.cls_name else error.message.strip()


def explain_step_error(error: Any) -> tuple[str, str | None] | None:
    """A failed step's error (Dagster's `SerializableErrorInfo`) as the platform explains it: the message of
    the first error in the chain that is not Dagster's wrapper (a component's `dg.Failure` names the problem
    and the fix), and the first line of the root cause when that is another error (a driver's or a tool's
    raw output), else None. None without an error."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    if not chain:
        return None
    own = next((e for e in chain if e.cls_name not in _DAGSTER_WRAPPERS), chain[-1])
    root = chain[-1]
    return _message(own), (f"{root.cls_name}: {_message(root).splitlines()[0]}" if root is not own else None)


def is_transient(exc: BaseException) -> bool:
    """Whether a retry can fix `exc`: a network error, a timeout, an HTTP 408/429/5xx (an exception with a
    `status`), or one of `TRANSIENT_MARKERS` in its message or its causes' messages. An error that knows says
    so itself with a boolean `transient` attribute (e.g. an API client that already retried a refused
    connection: a step retry would only repeat that)."""
    for err in error_chain(exc):
        if isinstance(err, dg.Failure) and not err.allow_retries:
            return False
        if isinstance(getattr(err, "transient", None), bool):
            return err.transient
        status = getattr(err, "status", None)
        if isinstance(status, int):
            return status in (408, 429) or status >= 500
        if isinstance(err, ConnectionError | TimeoutError):
            return True
        text = str(err).lower()
        if any(marker in text for marker in TRANSIENT_MARKERS) or any(
            pattern.search(text) for pattern in _TRANSIENT_PATTERNS
        ):
            return True
    return False


def permanent_failure(description: str, metadata: Mapping[str, Any] | None = None) -> dg.Failure:
    """A step failure that the retry policy does not retry."""
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


_NO_SPACE = "no space left on device"
_QUOTED_PATH = re.compile(r'"(/[^"]+)"')


def disk_full_failure(exc: BaseException) -> dg.Failure | None:
    """A failure naming the full disk and what to do, when `exc` or one of its causes is a full disk (ENOSPC:
    an OSError, or a driver's message such as DuckDB's `Could not write file "<path>": No space left on
    device`); else None. Not retried: the disk does not empty itself within a retry's delay."""
    for err in error_chain(exc):
        text = str(err)
        if not (isinstance(err, OSError) and err.errno == errno.ENOSPC) and _NO_SPACE not in text.lower():
            continue
        path = getattr(err, "filename", None) or next(iter(_QUOTED_PATH.findall(text)), None)
        where = f" writing {path}" if path else ""
        free = ""
        if path:
            folder = Path(path).parent
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
            free = f" ({shutil.disk_usage(folder).free / 2**20:.1f} MiB free on its disk)"
        return permanent_failure(
            f"the disk is full{where}{free}. Free space on that disk, or point the setting that leads there at "
            "a disk with room (WAREHOUSE_DUCKDB_PATH: the warehouse file; DATAPLAT_STATE_DIR: the platform's "
            "working files), then run again."
        )
    return None


@contextmanager
def fail_fast_unless_transient() -> Iterator[None]:
    """Errors inside pass through when a retry can fix them (`is_transient`), else become a `dg.Failure`
    that is not retried (same message, the original error as its cause; a full disk says so and what to do:
    `disk_full_failure`)."""
    try:
        yield
    except dg.Failure as exc:
        if exc.allow_retries and not is_transient(exc):
            raise (
                disk_full_failure(exc) or permanent_failure(exc.description or str(exc), exc.metadata)
            ) from exc
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        raise (disk_full_failure(exc) or permanent_failure(f"{type(exc).__name__}: {exc}".strip())) from exc
