"""The `Warehouse` on Snowflake (prod): dagster-snowflake's `SnowflakeResource` and the interface's methods.

Needs the `snowflake` extra (`dataplat-core[snowflake]`): imported only when an environment declares
`warehouse: snowflake`. Its fields come from `SNOWFLAKE_*` variables as `dg.EnvVar`s, read by the run worker and
never stored; the Sling connection is built from the same variables (at definition time a field holding an
`EnvVar` has no value yet). Exercised against fakesnow (core/tests/test_snowflake_warehouse.py); what fakesnow
cannot show (Sling and dlt writing to a real account) needs an account.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import dagster as dg
from dagster_sling import SlingConnectionResource
from dagster_snowflake import SnowflakeResource

from dataplat_core.environment import SNOWFLAKE_FIELDS
from dataplat_core.warehouse import Warehouse, quote_identifier, quote_table


class WarehouseSnowflake(Warehouse, SnowflakeResource):
    dialect: ClassVar[str] = "snowflake"

    @classmethod
    def from_environment(cls) -> WarehouseSnowflake:
        return cls(**{field: dg.EnvVar(name) for field, name in SNOWFLAKE_FIELDS.items()})

    def get_object_to_set_on_execution_context(self) -> Any:
        # dagster-snowflake hands ops a legacy `SnowflakeConnection` wrapper instead of the resource (for
        # backwards compatibility); components use the `Warehouse` interface, so they get the resource itself.
        return self

    def run_sql(
        self, conn: Any, sql: str, params: Sequence[Any] | None
    ) -> tuple[list[str] | None, list[tuple]]:
        cur = conn.cursor()
        try:
            cur.execute(sql, tuple(params or ()))
            if not cur.description:
                return None, []
            return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def read_columns(
        self,
        table: str,
        columns: Sequence[str],
        order_by: str,
        categorical: Sequence[str],
        float32: Sequence[str],
    ) -> tuple[Any, dict[str, list[str]]]:
        # Quoted: the platform's tables and columns are lower-case quoted identifiers (`write_frame`).
        select = ", ".join(quote_identifier(c) for c in columns)
        with self.get_connection() as conn, conn.cursor() as cur:
            cur.execute(f"select {select} from {quote_table(table)} order by {quote_identifier(order_by)}")
            return cur.fetch_pandas_all(), {}

    def write_frame(self, table: str, frame: Any) -> None:
        from snowflake.connector.pandas_tools import write_pandas

        schema, name = table.split(".")
        with self.get_connection() as conn:
            with conn.cursor() as cur:
                cur.execute(f"create schema if not exists {quote_identifier(schema)}")
            # write_pandas quotes the names it is given: the table and its columns stay lower-case, as the
            # platform's SQL (`quote_table`) and the transpiled marts name them.
            write_pandas(
                conn,
                frame,
                name,
                schema=schema,
                auto_create_table=True,
                overwrite=True,
                use_logical_type=True,
            )

    def sling_connection(self, name: str) -> SlingConnectionResource:
        return SlingConnectionResource(
            name=name, type="snowflake", **{field: dg.EnvVar(var) for field, var in SNOWFLAKE_FIELDS.items()}
        )

    def dlt_destination(self) -> tuple[str, dict[str, Any]]:
        credentials = {
            "host": self.account,  # dlt names the account identifier `host`
            "username": self.user,
            "password": self.password,
            "database": self.database,
            "warehouse": self.warehouse,
            "role": self.role,
        }
        return "snowflake", {"credentials": {k: v for k, v in credentials.items() if v}}
