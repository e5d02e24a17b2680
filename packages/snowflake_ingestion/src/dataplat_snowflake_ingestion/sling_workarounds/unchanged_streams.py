"""Which incremental streams Sling can be spared: the source has no row newer than the warehouse.

Sling costs about a second per stream even when nothing changed (it opens the source, starts the DuckDB CLI for
the checkpoint query, the temp table, the merge). Before it starts, each selected stream is checked here:

- eligible: `mode: incremental` with an `update_key` (stream or `defaults`), a plain `schema.table` stream
  name and target `object`, and nothing that makes Sling act on a run without new rows (`sql`, hooks,
  `pre_sql`/`post_sql`, `target_options.delete_missing`);
- unchanged: the warehouse table exists and `max(update_key)` in the source <= `max(update_key)` in the
  warehouse table. Sling 1.4.11's own incremental read is `where update_key > <max(update_key) of the target>`
  (seen with `sling run -d`; `SLING_GREATER_THAN_EQUAL=true` did not change it for a DuckDB target), so an
  unchanged stream is exactly one for which Sling would read no row: a row changed without moving its
  update_key past the warehouse's newest value is not loaded by Sling either
  (`test_a_row_changed_at_the_warehouse_newest_timestamp_is_skipped_as_sling_would`).

Anything else runs through Sling as before, with a log line saying why: a full-refresh stream, no update_key,
a missing or empty target table, a value that cannot be read or compared (a naive against an aware timestamp),
a source or warehouse error. The source is read through the platform's read-only `source_postgres` resource,
the warehouse through `warehouse` (`fetch_one`/`quote_table`: DuckDB and Snowflake alike), one connection each.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dataplat_core.observability import load_metadata
from dataplat_core.warehouse import InvalidIdentifier, fetch_one, quote_identifier, quote_table

SKIPPED_UNCHANGED = "dataplat/skipped_unchanged"
# Stream settings with which Sling does something even when no row is newer: never skipped.
_ACTS_WITHOUT_NEW_ROWS = ("sql", "hooks", "pre_sql", "post_sql")


@dataclass
class StreamCheck:
    """One stream's verdict. `unchanged` only when every step succeeded and the source has nothing newer."""

    stream: str
    key: dg.AssetKey
    table: str | None = None
    update_key: str | None = None
    source_newest: Any = None
    warehouse_newest: Any = None
    unchanged: bool = False
    reason: str = ""
    seconds: float = 0.0

    def log_line(self) -> str:
        if self.unchanged:
            return (
                f"stream {self.table}: skipped, unchanged (source newest {self.update_key} "
                f"{self.source_newest} <= warehouse newest {self.warehouse_newest}); Sling not run for it"
            )
        return f"stream {self.table or self.stream}: runs through Sling ({self.reason})"


def _setting(config: Mapping[str, Any], stream: Mapping[str, Any], name: str) -> Any:
    value = stream.get(name)
    return value if value is not None else (config.get("defaults") or {}).get(name)


def _ineligible(config: Mapping[str, Any], name: str, stream: Mapping[str, Any]) -> str | None:
    """Why the stream cannot be skipped from its configuration alone, else None."""
    mode = _setting(config, stream, "mode") or "full-refresh"
    if mode != "incremental":
        return f"mode {mode}"
    if not _setting(config, stream, "update_key"):
        return "incremental without update_key"
    for setting in _ACTS_WITHOUT_NEW_ROWS:
        if _setting(config, stream, setting):
            return f"the stream has `{setting}`"
    target_options = {**((config.get("defaults") or {}).get("target_options") or {}),
                      **(stream.get("target_options") or {})}  # fmt: skip
    if target_options.get("delete_missing"):
        return "target_options.delete_missing"
    try:
        quote_table(name)
        quote_table(stream.get("object") or "")
        quote_identifier(_setting(config, stream, "update_key"))
    except InvalidIdentifier as exc:
        return f"not a plain table: {exc}"
    if len(name.split(".")) != 2 or len(str(stream.get("object")).split(".")) != 2:
        return "stream or object is not schema.table"
    return None


def _newer(source: Any, warehouse: Any) -> bool:
    """Whether Sling would read a row: some source value > the warehouse's newest. Raises TypeError when the
    two cannot be compared (a naive against an aware timestamp)."""
    return bool(source > warehouse)


def check_streams(
    config: Mapping[str, Any],
    selected: Mapping[str, dg.AssetKey],
    warehouse: Any,
    source_postgres: Any,
) -> list[StreamCheck]:
    """A verdict per selected stream (`selected`: stream name -> asset key). Never raises: a failure leaves
    the stream to Sling, with the failure as the reason."""
    streams = config.get("streams") or {}
    checks = [StreamCheck(stream=name, key=key) for name, key in selected.items()]
    pending: list[StreamCheck] = []
    for check in checks:
        stream = streams.get(check.stream) or {}
        check.table = stream.get("object")
        check.update_key = _setting(config, stream, "update_key")
        reason = _ineligible(config, check.stream, stream)
        if reason:
            check.reason = reason
        else:
            pending.append(check)
    if not pending:
        return checks
    started = time.perf_counter()
    # The warehouse side first: a missing table needs no source query.
    try:
        with warehouse.session() as shared:
            for check in pending:
                check.reason = _read_warehouse(shared, check)
    except Exception as exc:
        for check in pending:
            check.reason = check.reason or f"warehouse not readable: {_one_line(exc)}"
    pending = [c for c in pending if not c.reason]
    if pending:
        try:
            with source_postgres.connect() as conn:
                for check in pending:
                    check.reason = _read_source(conn, check)
        except Exception as exc:
            for check in pending:
                check.reason = check.reason or f"source not readable: {_one_line(exc)}"
    for check in pending:
        if check.reason:
            continue
        try:
            if check.source_newest is None:
                check.reason = "the source table is empty"
            elif _newer(check.source_newest, check.warehouse_newest):
                check.reason = (
                    f"source newest {check.update_key} {check.source_newest} > "
                    f"warehouse newest {check.warehouse_newest}"
                )
            else:
                check.unchanged = True
        except TypeError as exc:
            check.reason = f"newest values not comparable: {_one_line(exc)}"
    elapsed = (time.perf_counter() - started) / len(checks)
    for check in checks:
        check.seconds = elapsed
    return checks


def _read_warehouse(warehouse: Any, check: StreamCheck) -> str:
    """The warehouse table's newest update_key; '' or the reason it runs through Sling.

    The table and column are looked up case-insensitively and queried with the names the warehouse reports
    (Snowflake may hold `RAW_CRM.ACCOUNTS`); validated names are safe as literals (DuckDB and Snowflake bind
    parameters differently)."""
    try:
        schema, table = check.table.lower().split(".")
        column = check.update_key.lower()
        quote_table(check.table), quote_identifier(check.update_key)
        found = fetch_one(
            warehouse,
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where lower(table_schema) = '{schema}' and lower(table_name) = '{table}' "
            f"and lower(column_name) = '{column}'",
        )
        if not found:
            return f"target table missing (or without {check.update_key}): Sling loads it"
        sql = (
            f"select max({quote_identifier(found[2])}) "
            f"from {quote_identifier(found[0])}.{quote_identifier(found[1])}"
        )
        row = fetch_one(warehouse, sql)
    except Exception as exc:
        return f"warehouse newest not read: {_one_line(exc)}"
    check.warehouse_newest = row[0] if row else None
    if check.warehouse_newest is None:
        return "target table empty"
    return ""


def _read_source(conn: Any, check: StreamCheck) -> str:
    """The source table's newest update_key; '' or the reason it runs through Sling."""
    try:
        sql = f"select max({quote_identifier(check.update_key)}) from {quote_table(check.stream)}"
        row = conn.execute(sql).fetchone()
    except Exception as exc:
        try:
            conn.rollback()  # the next stream's query needs a usable transaction
        except Exception:
            pass
        return f"source newest not read: {_one_line(exc)}"
    check.source_newest = row[0] if row else None
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def skipped_result(
    check: StreamCheck, data_version: str | None, table: Mapping[str, Any]
) -> dg.MaterializeResult:
    """The materialization of a stream Sling was spared: the uniform load metadata (0 rows read and loaded,
    the source's newest update_key), the table's rows and columns (`table`: `observability.table_metadata`)
    and the `dataplat/skipped_unchanged` flag: what a run of Sling that read no row reports. `data_version`
    is the table's, as a load reports it (`table_version`): unchanged, so automation does not take the skip
    for new data."""
    metadata = {
        **load_metadata(
            rows_read=0,
            rows_loaded=0,
            rows_rejected=0,
            source_newest_at=check.source_newest,
            duration_s=check.seconds,
        ),
        **table,
        SKIPPED_UNCHANGED: dg.MetadataValue.bool(True),
        "stream_name": check.stream,
    }
    return dg.MaterializeResult(
        asset_key=check.key,
        metadata=metadata,
        data_version=dg.DataVersion(data_version) if data_version else None,
    )


class SlingSubsetContext(dg.AssetExecutionContext):
    """The step's context with `selected_asset_keys` narrowed to the streams Sling must run.

    dagster-sling 0.29 (`SlingResource._get_replication_streams_for_context`) replaces the replication's streams
    with the selected assets' streams when the run config is empty, and uses the replication passed to
    `replicate()` otherwise (unless the run config names `context_streams`, in which case nothing is skipped):
    the narrowed selection and the narrowed replication make both paths run the same streams."""

    def __init__(self, context: dg.AssetExecutionContext, keys: set[dg.AssetKey]) -> None:
        super().__init__(context.op_execution_context)
        self._sling_keys = frozenset(keys)

    @property
    def selected_asset_keys(self) -> Any:
        return self._sling_keys


def context_streams_in_run_config(context: dg.AssetExecutionContext) -> bool:
    """Whether the run config selects the op's streams through dagster-sling's `context_streams`."""
    try:
        ops = (context.run.run_config or {}).get("ops") or {}
        op_config = (ops.get(context.assets_def.op.name) or {}).get("config") or {}
        return bool(op_config.get("context_streams"))
    except Exception:
        return False
