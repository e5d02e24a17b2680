"""Marts are written once, in DuckDB's SQL, and run on whichever warehouse the environment built.

`sqlglot` transpiles each SELECT to Snowflake when the code location loads (a syntax error fails
`dg check defs`, not a run), and the run picks the statement for the `warehouse` resource it was given.
Snowflake output quotes every identifier: the platform's tables are lower-case quoted identifiers (the core's
`quote_table` writes them so), and an unquoted name would resolve to its upper-case spelling there.
"""

from collections.abc import Sequence
from typing import Any

DUCKDB = "duckdb"
SNOWFLAKE = "snowflake"
DIALECTS = (DUCKDB, SNOWFLAKE)


class UnsupportedSql(ValueError):
    """The SQL cannot be parsed, is not one SELECT, or has no faithful translation to a warehouse dialect."""


def warehouse_dialect(warehouse: Any) -> str:
    """The dialect of a `warehouse` resource, by class name: the local venvs do not carry dagster_snowflake."""
    return SNOWFLAKE if type(warehouse).__name__.lower().startswith("snowflake") else DUCKDB


def transpile(sql: str, write: str, read: str = DUCKDB) -> str:
    """One SELECT from `read` to `write`; raises `UnsupportedSql` instead of writing something different."""
    import sqlglot  # heavy-ish: only when a component is built
    from sqlglot.errors import ErrorLevel, SqlglotError

    if write not in DIALECTS or read not in DIALECTS:
        raise UnsupportedSql(f"dialects are {', '.join(DIALECTS)}; got read={read!r}, write={write!r}")
    try:
        statements = sqlglot.parse(sql, read=read)
        if len([s for s in statements if s is not None]) != 1:
            raise UnsupportedSql("a mart is exactly one SELECT statement")
        (statement,) = statements
        if not isinstance(statement, sqlglot.exp.Query):
            raise UnsupportedSql(f"a mart is a SELECT, not {statement.key.upper()}")
        if write == read:
            return sql.strip().rstrip(";")
        return statement.sql(dialect=write, identify=True, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise UnsupportedSql(f"cannot translate the SQL from {read} to {write}: {exc}") from exc


def run_statements(warehouse: Any, statements: Sequence[str]) -> list[tuple]:
    """Run statements in order on one connection (DuckDB or Snowflake); returns the last one's rows."""
    rows: list[tuple] = []
    with warehouse.get_connection() as conn:
        if warehouse_dialect(warehouse) == SNOWFLAKE:
            cur = conn.cursor()
            try:
                for sql in statements:
                    cur.execute(sql)
                    rows = list(cur.fetchall()) if cur.description else []
            finally:
                cur.close()
        else:
            for sql in statements:
                result = conn.execute(sql)
                rows = result.fetchall() if result.description else []
    return rows


def query(warehouse: Any, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names (lower-case) and rows of one query."""
    with warehouse.get_connection() as conn:
        cur = conn.cursor() if warehouse_dialect(warehouse) == SNOWFLAKE else conn
        try:
            result = cur.execute(sql)
            columns = [d[0].lower() for d in result.description]
            return columns, [tuple(r) for r in result.fetchall()]
        finally:
            if cur is not conn:
                cur.close()


def table_exists(warehouse: Any, table: str) -> bool:
    """Whether `schema.table` exists. Names are validated identifiers, so they are safe as literals."""
    from dataplat_core.warehouse import quote_table

    quote_table(table)
    schema, name = table.split(".")
    _, rows = query(
        warehouse,
        "select count(*) from information_schema.tables "
        f"where lower(table_schema) = '{schema.lower()}' and lower(table_name) = '{name.lower()}'",
    )
    return bool(rows and rows[0][0])
