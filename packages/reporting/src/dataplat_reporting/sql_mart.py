"""A mart is one SQL SELECT materialized as a warehouse table, declared in YAML.

```yaml
type: dataplat_reporting.components.SqlMartComponent
attributes:
  name: daily_revenue
  schema_name: marts
  sql: daily_revenue.sql          # a file beside defs.yaml, or inline SQL
  deps: [raw_shop/orders]
  primary_key: [order_date]
```
The table is rebuilt with `create or replace table ... as select`, one statement, so a failed run leaves
the previous version in place.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dataplat_core.checks import table_checks
from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table


@dataclass
class SqlMartComponent(dg.Component, dg.Resolvable):
    """One SQL mart: a table in the warehouse rebuilt from a SELECT over upstream tables."""

    name: str
    sql: str
    schema_name: str = "marts"
    deps: Sequence[str] = field(default_factory=list)
    primary_key: Sequence[str] = field(default_factory=list)
    group_name: str = "marts"
    description: str | None = None

    def select_sql(self, base: Path) -> str:
        candidate = base / self.sql
        text = candidate.read_text() if self.sql.endswith(".sql") and candidate.is_file() else self.sql
        return text.strip().rstrip(";")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        table = f"{self.schema_name}.{self.name}"
        quote_table(table)  # reject a bad name when the code location loads, not when the run starts
        select = self.select_sql(context.path)
        key = dg.AssetKey([self.schema_name, self.name])

        @dg.asset(
            key=key,
            deps=[dg.AssetKey.from_user_string(d) for d in self.deps],
            group_name=self.group_name,
            description=self.description or f"Mart {table}.",
            required_resource_keys={"warehouse"},
            pool="warehouse",
            kinds={"sql"},
        )
        def _mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            warehouse = context.resources.warehouse
            with warehouse.get_connection() as conn:
                conn.execute(f"create schema if not exists {quote_identifier(self.schema_name)}")
                conn.execute(f"create or replace table {quote_table(table)} as {select}")
            (rows,) = fetch_one(warehouse, f"select count(*) from {quote_table(table)}")
            return dg.MaterializeResult(metadata={"dagster/row_count": int(rows), "table": table})

        checks = table_checks(key, table, primary_key=self.primary_key) if self.primary_key else []
        return dg.Definitions(assets=[_mart], asset_checks=checks)
