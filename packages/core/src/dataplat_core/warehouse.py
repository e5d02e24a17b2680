"""The warehouse interface every component uses (`Warehouse`), and quoting of identifiers that come from config."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dagster_sling import SlingConnectionResource

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}\Z")  # \Z: "$" would accept a trailing newline


class WarehouseBusy(RuntimeError):
    """The warehouse stayed busy for the whole wait (a DuckDB file locked by another process): worth a retry."""


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


# Every asset that writes the warehouse runs in this Dagster concurrency pool (DuckDB allows one writing process
# per file; in Snowflake the pool only bounds concurrent sessions). Set at definition time, before resources exist.
WAREHOUSE_POOL = "warehouse"
# The `dialect` of each implementation (sqlglot's names): SQL prepared when a location loads is prepared for each.
DIALECTS = ("duckdb", "snowflake")


class _Queries:
    """Statements and queries over `session()`: the same code for a warehouse and for one of its sessions."""

    dialect: ClassVar[str]

    def session(self) -> AbstractContextManager[WarehouseSession]:
        raise NotImplementedError

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.session() as s:
            return s.fetch_all(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Column names (lower-case: Snowflake answers upper-case) and rows of one query."""
        with self.session() as s:
            return s.query(sql, params)

    def execute(self, statements: Sequence[str]) -> list[tuple]:
        """Run statements in order on one connection; the last one's rows (none for a statement without)."""
        with self.session() as s:
            return s.execute(statements)


class Warehouse(_Queries):
    """The one way components reach the warehouse. Implemented by `WarehouseDuckDB` (`duckdb_warehouse.py`) and
    `WarehouseSnowflake` (`snowflake_warehouse.py`); the resource factory builds the one the environment declares
    (`platform.yaml`'s `warehouse`). A component never asks which: it uses these methods, and `dialect` only as
    the SQL dialect its statements are written or transpiled in (sqlglot's names, "duckdb" and "snowflake").

    - `fetch_all`, `query`, `execute`; `session()` for several on one connection;
    - `read_frame` / `write_frame`: a table to pandas and back;
    - `sling_connection(name)`: the Sling connection that writes here; `dlt_destination()`: dlt's;
    - `wait_until_writable()`: for writers that open the warehouse outside this resource (Sling's CLI).
    """

    dialect: ClassVar[str]

    # `get_connection()` is the Dagster resource's own (dagster-duckdb's, dagster-snowflake's).

    def run_sql(
        self, conn: Any, sql: str, params: Sequence[Any] | None
    ) -> tuple[list[str] | None, list[tuple]]:
        """Column names (None when the statement returns no rows) and rows of one statement on `conn`."""
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        with self.get_connection() as conn:
            yield WarehouseSession(self, conn)

    def read_frame(
        self,
        table: str,
        columns: Sequence[str],
        order_by: str,
        categorical: Sequence[str] = (),
        float32: Sequence[str] = (),
    ):
        """`columns` of `table` ordered by `order_by` as a pandas frame with lower-case column names:
        `categorical` columns as pandas categories (NULL -> `MISSING_CATEGORY`), `float32` as float32."""
        quote_table(table)
        for c in (*columns, order_by):
            quote_identifier(c)
        if any(c not in columns for c in (*categorical, *float32)):
            raise ValueError(f"categorical and float32 columns must be among {list(columns)}")
        frame, categories = self.read_columns(table, columns, order_by, categorical, float32)
        return finish_frame(frame, categorical, categories, float32)

    def read_columns(
        self,
        table: str,
        columns: Sequence[str],
        order_by: str,
        categorical: Sequence[str],
        float32: Sequence[str],
    ) -> tuple[Any, dict[str, list[str]]]:
        """The frame as fetched, and for each categorical column fetched as codes, its categories."""
        raise NotImplementedError

    def write_frame(self, table: str, frame: Any) -> None:
        """Replace `schema.table` with the frame's rows in one statement (readers see the old or the new)."""
        raise NotImplementedError

    def sling_connection(self, name: str) -> SlingConnectionResource:
        raise NotImplementedError

    def dlt_destination(self) -> tuple[str, dict[str, Any]]:
        """dlt's destination type and its keyword arguments, for `dlt.Destination.from_reference(type, **kw)`.
        Read at run time: credentials are then resolved."""
        raise NotImplementedError

    def wait_until_writable(self) -> None:
        """Return once a writer outside this resource can open the warehouse (default: at once); raise
        `WarehouseBusy` naming what keeps it busy."""


class WarehouseSession(_Queries):
    """One connection of a warehouse: the same queries, no new connection each (a DuckDB file opened per query
    costs ~15 ms, a Snowflake session far more). `session()` and `get_connection()` yield the same one."""

    def __init__(self, warehouse: Warehouse, conn: Any):
        self.warehouse, self.connection = warehouse, conn
        self.dialect = warehouse.dialect

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        yield self

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        yield self.connection

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.warehouse.run_sql(self.connection, sql, params)[1]

    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple]]:
        columns, rows = self.warehouse.run_sql(self.connection, sql, params)
        return [c.lower() for c in columns or ()], rows

    def execute(self, statements: Sequence[str]) -> list[tuple]:
        rows: list[tuple] = []
        for sql in statements:
            rows = self.warehouse.run_sql(self.connection, sql, None)[1]
        return rows


MISSING_CATEGORY = "unknown"


def finish_frame(
    frame: Any, categorical: Sequence[str], categories: dict[str, list[str]], float32: Sequence[str]
) -> Any:
    import pandas as pd

    frame.columns = [str(c).lower() for c in frame.columns]
    for c in categorical:
        if c in categories:  # fetched as codes
            frame[c] = pd.Categorical.from_codes(frame[c].to_numpy(), categories=categories[c])
        else:
            frame[c] = frame[c].astype("object").where(frame[c].notna(), MISSING_CATEGORY).astype("category")
    for c in float32:
        frame[c] = frame[c].astype("float32")
    return frame


def fetch_one(
    warehouse: Warehouse | WarehouseSession, sql: str, params: Sequence[Any] | None = None
) -> tuple:
    rows = warehouse.fetch_all(sql, params)
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


def table_exists(warehouse: Warehouse | WarehouseSession, table: str) -> bool:
    (found,) = fetch_one(
        warehouse, f"select count(*) from information_schema.tables where {information_schema_filter(table)}"
    )
    return int(found) > 0


def table_version(warehouse: Warehouse | WarehouseSession, table: str, newest_column: str) -> tuple[str, Any]:
    """(data version, newest value) of a loaded table: its row count and the newest value of the column its
    loader advances (an incremental cursor, Sling's update_key). A loader that moved no row reports the same
    version as its previous load, so automation does not take it for new data (`automation.py`); a changed,
    added or removed row that the loader saw moves one of the two. Without such a column a loader reports no
    version of its own (Dagster then records a new one per materialization)."""
    rows, newest = fetch_one(
        warehouse, f"select count(*), max({quote_identifier(newest_column)}) from {quote_table(table)}"
    ) or (0, None)
    return f"rows={rows};newest={newest.isoformat() if hasattr(newest, 'isoformat') else newest}", newest
