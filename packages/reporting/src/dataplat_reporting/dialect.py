"""Marts are written once, in DuckDB's SQL, and run on whichever warehouse the environment built.

`sqlglot` transpiles each SELECT to Snowflake when the code location loads (a syntax error fails
`dg check defs`, not a run), and the run picks the statement of the `warehouse` it was given (its `dialect`).
Snowflake output quotes every identifier: the platform's tables are lower-case quoted identifiers (the core's
`quote_table` writes them so), and an unquoted name would resolve to its upper-case spelling there.
"""

from dataplat_core.warehouse import DIALECTS

DUCKDB = "duckdb"  # the dialect marts are written in


class UnsupportedSql(ValueError):
    """The SQL cannot be parsed, is not one SELECT, or has no faithful translation to a warehouse dialect."""


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
