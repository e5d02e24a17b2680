"""A mart is one SQL SELECT materialized as a warehouse table, declared in YAML.

```yaml
type: dataplat_reporting.components.SqlMartComponent
attributes:
  name: daily_visits
  schema_name: marts
  sql: daily_visits.sql           # a file beside defs.yaml, or inline SQL
  tables: {visits: raw_web.visits}  # what `$visits` in the SQL stands for
  deps: [raw_web/visits]
  primary_key: [visit_date]
  freshness: {max_lag_hours: 26, column: last_visit_at}
```
`SqlMartsComponent` declares several marts in one defs.yaml (`marts: [...]`, shared schema and group).

The table is rebuilt with `create or replace table ... as select`, one statement, so a failed run leaves
the previous version in place. The SQL is written in DuckDB's dialect and transpiled to Snowflake when the
code location loads (`dialect.py`); the run uses the statement of the warehouse it was given.
"""

import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dataplat_core.checks import checks_step, table_checks
from dataplat_core.observability import fail_fast_unless_transient, table_metadata, transient_retry_policy
from dataplat_core.warehouse import WAREHOUSE_POOL, quote_identifier, quote_table
from pydantic import Field

from dataplat_reporting.dialect import DIALECTS, DUCKDB, transpile
from dataplat_reporting.freshness import MartFreshness


class MartSpec(dg.Model, dg.Resolvable):
    """One mart: a SELECT (inline or a `.sql` file beside defs.yaml) and what the asset declares."""

    name: str = Field(description="Table name, validated as an identifier; the asset key is schema/name.")
    sql: str = Field(
        description="DuckDB SQL: a `.sql` file beside defs.yaml, or inline. `$name` stands for the table "
        "`tables[name]`."
    )
    deps: list[str] = Field(default_factory=list, description="Upstream asset keys, e.g. raw_web/visits.")
    primary_key: list[str] = Field(default_factory=list, description="Adds key and row-count checks.")
    freshness: MartFreshness | None = None
    description: str | None = None


def read_sql(sql: str, base: Path, tables: Mapping[str, str] | None = None) -> str:
    """The SELECT text with `$name` replaced by the quoted table `tables[name]` (an unknown name raises)."""
    sql = sql.strip()
    if sql.endswith(".sql") and "\n" not in sql:
        candidate = base / sql
        if Path(sql).name != sql or not candidate.is_file():
            raise ValueError(f"no SQL file {sql!r} beside the defs.yaml in {base}")
        text = candidate.read_text()
    else:
        text = sql
    quoted = {name: quote_table(table) for name, table in (tables or {}).items()}
    try:
        text = string.Template(text).substitute(quoted)
    except KeyError as exc:
        raise ValueError(f"the SQL uses ${exc.args[0]}, which `tables` does not define") from None
    except ValueError as exc:  # e.g. `$1`: write `$$` for a literal dollar sign
        raise ValueError(f"bad `$` placeholder in the mart SQL ({exc}); write $$ for a literal $") from None
    return text.strip().rstrip(";")


# Days are UTC days: DuckDB casts a TIMESTAMPTZ to DATE (or takes its month) in the session's time zone, the
# machine's by default, so the mart's connection sets UTC. Snowflake casts a TIMESTAMP_TZ in the value's own
# offset (the loaders write UTC), so it needs no session setting (and fakesnow cannot emulate one).
SESSION_SETUP = {DUCKDB: ["set TimeZone = 'UTC'"]}


def statements_by_dialect(table: str, select: str) -> dict[str, list[str]]:
    """The statements that rebuild `table`, in every warehouse dialect (transpiled now, run later)."""
    schema = quote_identifier(table.split(".")[0])
    out = {}
    for dialect in DIALECTS:
        body = transpile(select, write=dialect, read=DUCKDB)
        out[dialect] = [
            *SESSION_SETUP.get(dialect, []),
            f"create schema if not exists {schema}",
            f"create or replace table {quote_table(table)} as {body}",
        ]
    return out


def build_mart(
    spec: MartSpec,
    *,
    schema_name: str,
    group_name: str,
    base: Path,
    default_freshness: MartFreshness | None,
    tables: Mapping[str, str] | None = None,
) -> dg.Definitions:
    table = f"{schema_name}.{spec.name}"
    quote_table(table)  # reject a bad name when the code location loads, not when the run starts
    select = read_sql(spec.sql, base, tables)
    statements = statements_by_dialect(table, select)
    key = dg.AssetKey([schema_name, spec.name])
    freshness = spec.freshness or default_freshness

    @dg.asset(
        key=key,
        deps=[dg.AssetKey.from_user_string(d) for d in spec.deps],
        group_name=group_name,
        description=spec.description or f"Mart {table}.",
        required_resource_keys={"warehouse"},
        pool=WAREHOUSE_POOL,
        retry_policy=transient_retry_policy(),  # a lock or a dropped connection; SQL errors fail at once
        kinds={"sql"},
        freshness_policy=freshness.policy() if freshness else None,
        metadata={"table": table, "dagster/table_name": table},
    )
    def _mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse = context.resources.warehouse
        dialect = warehouse.dialect
        with fail_fast_unless_transient():
            warehouse.execute(statements[dialect])
        return dg.MaterializeResult(
            metadata={
                **table_metadata(warehouse, table),
                "table": table,
                "dialect": dialect,
                "sql": dg.MetadataValue.md(f"```sql\n{select.strip()}\n```"),  # the mart's SELECT as declared
            }
        )

    checks = table_checks(key, table, primary_key=spec.primary_key) if spec.primary_key else []
    checks += freshness.checks(key, table) if freshness else []
    return dg.Definitions(
        assets=[_mart], asset_checks=checks_step(f"{key.to_python_identifier()}_checks", checks)
    )


class SqlMartComponent(MartSpec, dg.Component):
    """One SQL mart: a table in the warehouse rebuilt from a SELECT over upstream tables."""

    schema_name: str = "marts"
    group_name: str = "marts"
    tables: dict[str, str] = Field(
        default_factory=dict, description="`$name` in the SQL -> the schema.table it reads."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_mart(
            self,
            schema_name=self.schema_name,
            group_name=self.group_name,
            base=context.path,
            default_freshness=None,
            tables=self.tables,
        )


class SqlMartsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Several SQL marts in one defs.yaml, sharing a schema, a group and a default freshness."""

    marts: Sequence[MartSpec]
    schema_name: str = "marts"
    group_name: str = "marts"
    freshness: MartFreshness | None = Field(default=None, description="For marts that declare none.")
    tables: dict[str, str] = Field(
        default_factory=dict, description="`$name` in the SQL -> the schema.table it reads."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        names = [m.name for m in self.marts]
        if len(set(names)) != len(names):
            raise ValueError(f"mart names must be unique: {names}")
        return dg.Definitions.merge(
            *(
                build_mart(
                    m,
                    schema_name=self.schema_name,
                    group_name=self.group_name,
                    base=context.path,
                    default_freshness=self.freshness,
                    tables=self.tables,
                )
                for m in self.marts
            )
        )
