"""Warehouse tables <-> pandas frames, for DuckDB (local) and Snowflake (prod) connections.

pandas is imported inside the functions: the code location loads without it.
"""

from collections.abc import Sequence
from typing import Any

from dataplat_core.warehouse import quote_identifier, quote_table

MISSING_CATEGORY = "unknown"


def _is_snowflake(conn: Any) -> bool:
    return hasattr(conn, "cursor") and not hasattr(conn, "fetchall")


def read_table(
    warehouse: Any,
    table: str,
    columns: Sequence[str],
    order_by: str,
    categorical: Sequence[str] = (),
    float32: Sequence[str] = (),
):
    """`columns` of `table` ordered by `order_by`, compactly: `categorical` columns as pandas categories (NULL
    -> "unknown"), `float32` columns as float32, the rest as the warehouse types them.

    A text column fetched as text costs one Python string per row (~60 bytes each, and DuckDB's conversion
    buffer on top): at 1.7M rows the three categoricals were ~320 MiB of a 380 MiB frame. In DuckDB each
    categorical is therefore fetched as an integer code (its position in the column's sorted distinct values,
    read first in the same transaction, so both see one snapshot) and the frame is built from the codes.
    `columns` are the package's own constant names, never config.
    """
    import pandas as pd

    quoted = quote_table(table)
    for c in (*columns, order_by):
        quote_identifier(c)
    if any(c not in columns for c in (*categorical, *float32)):
        raise ValueError(f"categorical and float32 columns must be among {list(columns)}")
    categories: dict[str, list[str]] = {}
    with warehouse.get_connection() as conn:
        if _is_snowflake(conn):  # pragma: no cover - needs a Snowflake account
            with conn.cursor() as cur:
                cur.execute(f"select {', '.join(columns)} from {quoted} order by {order_by}")
                frame = cur.fetch_pandas_all()
        else:
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
    frame.columns = [str(c).lower() for c in frame.columns]
    for c in categorical:
        if c in categories:
            frame[c] = pd.Categorical.from_codes(frame[c].to_numpy(), categories=categories[c])
        else:  # text from Snowflake
            frame[c] = frame[c].astype("object").where(frame[c].notna(), MISSING_CATEGORY).astype("category")
    for c in float32:
        frame[c] = frame[c].astype("float32")
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
