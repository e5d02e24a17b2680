"""Run SQL on whichever warehouse the environment built, and quote identifiers that come from config."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}\Z")  # \Z: "$" would accept a trailing newline


class InvalidIdentifier(ValueError):
    pass


def quote_identifier(name: str) -> str:
    """Validate a table or column name from config and double-quote it (DuckDB and Snowflake agree)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidIdentifier(f"not a valid SQL identifier: {name!r}")
    return f'"{name}"'


def quote_table(qualified: str) -> str:
    """`schema.table` or `table`, each part validated and quoted."""
    return ".".join(quote_identifier(part) for part in qualified.split("."))


def fetch_all(warehouse: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
    """Rows of one query through a DuckDBResource or a SnowflakeResource (both expose get_connection())."""
    with warehouse.get_connection() as conn:
        if hasattr(conn, "cursor") and not hasattr(conn, "fetchall"):  # Snowflake connector
            cur = conn.cursor()
            try:
                cur.execute(sql, params or ())
                return list(cur.fetchall())
            finally:
                cur.close()
        return conn.execute(sql, params or []).fetchall()


def fetch_one(warehouse: Any, sql: str, params: Sequence[Any] | None = None) -> tuple:
    rows = fetch_all(warehouse, sql, params)
    return rows[0] if rows else ()


def information_schema_filter(table: str) -> str:
    """A `where` condition of information_schema.tables/columns for `schema.table` or `table`, matched
    case-insensitively (Snowflake folds unquoted names to upper case). Validated names are safe as literals
    (DuckDB and Snowflake bind parameters differently)."""
    quote_table(table)
    schema, _, name = table.rpartition(".")
    return f"lower(table_name) = '{name.lower()}'" + (
        f" and lower(table_schema) = '{schema.lower()}'" if schema else ""
    )


def table_exists(warehouse: Any, table: str) -> bool:
    (found,) = fetch_one(
        warehouse, f"select count(*) from information_schema.tables where {information_schema_filter(table)}"
    )
    return int(found) > 0


def table_version(warehouse: Any, table: str, newest_column: str) -> tuple[str, Any]:
    """(data version, newest value) of a loaded table: its row count and the newest value of the column its
    loader advances (an incremental cursor, Sling's update_key). A loader that moved no row reports the same
    version as its previous load, so automation does not take it for new data (`automation.py`); a changed,
    added or removed row that the loader saw moves one of the two. Without such a column a loader reports no
    version of its own (Dagster then records a new one per materialization)."""
    rows, newest = fetch_one(
        warehouse, f"select count(*), max({quote_identifier(newest_column)}) from {quote_table(table)}"
    ) or (0, None)
    return f"rows={rows};newest={newest.isoformat() if hasattr(newest, 'isoformat') else newest}", newest


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
