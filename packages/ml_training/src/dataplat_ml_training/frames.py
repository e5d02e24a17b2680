"""Warehouse tables <-> pandas frames, for DuckDB (local) and Snowflake (prod) connections.

pandas is imported inside the functions: the code location loads without it.
"""

from typing import Any

from dataplat_core.warehouse import quote_identifier, quote_table


def _is_snowflake(conn: Any) -> bool:
    return hasattr(conn, "cursor") and not hasattr(conn, "fetchall")


def read_frame(warehouse: Any, sql: str):
    """One query's rows as a DataFrame with lower-case column names (Snowflake upper-cases unquoted ones)."""
    with warehouse.get_connection() as conn:
        if _is_snowflake(conn):  # pragma: no cover - needs a Snowflake account
            with conn.cursor() as cur:
                cur.execute(sql)
                frame = cur.fetch_pandas_all()
        else:
            frame = conn.execute(sql).df()
    frame.columns = [str(c).lower() for c in frame.columns]
    return frame


def replace_table(warehouse: Any, table: str, frame) -> None:
    """Replace `table` with the frame's rows in one statement (readers see the old or the new table)."""
    schema, name = table.split(".")
    quote_table(table)
    with warehouse.get_connection() as conn:
        if _is_snowflake(conn):  # pragma: no cover - needs a Snowflake account
            from snowflake.connector.pandas_tools import write_pandas

            upper = frame.rename(columns=str.upper)
            write_pandas(
                conn,
                upper,
                name.upper(),
                schema=schema.upper(),
                auto_create_table=True,
                overwrite=True,
                use_logical_type=True,
            )
            return
        conn.execute(f"create schema if not exists {quote_identifier(schema)}")
        conn.register("_frame_to_write", frame)
        try:
            conn.execute(f"create or replace table {quote_table(table)} as select * from _frame_to_write")
        finally:
            conn.unregister("_frame_to_write")
