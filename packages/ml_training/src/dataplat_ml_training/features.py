"""The feature table: one row per (not cancelled) order, built in the warehouse with one SELECT.

Every feature the refund policy plausibly depends on is in the warehouse: the order's channel, discount and
total, the category of its main product (line 1), the customer's tenure and country, and the basket size.
The label is whether the payments provider has a refund for the order. Cancelled orders are left out: they
can never be refunded, so they would only teach the model the cancellation rate.

The SQL is portable between DuckDB and Snowflake (`datediff`, `case`, `cast`; no `FILTER`, no `::`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dataplat_core.warehouse import fetch_all, quote_identifier, quote_table

CATEGORICAL: tuple[str, ...] = ("channel", "category", "country")
NUMERIC: tuple[str, ...] = ("total_amount", "discount_pct", "tenure_days", "n_lines", "n_units")
FEATURES: tuple[str, ...] = CATEGORICAL + NUMERIC
KEY, TIME, LABEL = "order_id", "order_ts", "refunded"


@dataclass(frozen=True)
class Tables:
    """Qualified names of the upstream tables (validated and quoted when the SQL is built)."""

    orders: str
    order_items: str
    customers: str
    products: str
    refunds: str


def features_select(t: Tables) -> str:
    q = {name: quote_table(getattr(t, name)) for name in Tables.__dataclass_fields__}
    return f"""
with lines as (
    select
        order_id,
        count(*) as n_lines,
        sum(quantity) as n_units,
        -- the order's main product is line 1: the refund policy ties to what was bought first
        max(case when line_no = 1 then product_id end) as main_product_id
    from {q["order_items"]}
    group by order_id
),
refunded_orders as (
    -- an order may have several (partial) refunds: one label per order
    select order_id, min(created_at) as first_refund_at
    from {q["refunds"]}
    group by order_id
)
select
    o.order_id,
    o.order_ts,
    cast(o.channel as varchar) as channel,
    coalesce(cast(p.category as varchar), 'unknown') as category,
    coalesce(cast(c.country as varchar), 'unknown') as country,
    cast(o.total_amount as double) as total_amount,
    cast(o.discount_pct as double) as discount_pct,
    -- whole days between signup and order (signup_date is a date: exact to within a day)
    cast(datediff('day', cast(c.signup_date as date), cast(o.order_ts as date)) as integer) as tenure_days,
    cast(coalesce(l.n_lines, 0) as integer) as n_lines,
    cast(coalesce(l.n_units, 0) as integer) as n_units,
    cast(case when r.order_id is null then 0 else 1 end as integer) as refunded,
    r.first_refund_at
from {q["orders"]} o
left join lines l on l.order_id = o.order_id
left join {q["products"]} p on p.product_id = l.main_product_id
left join {q["customers"]} c on c.customer_id = o.customer_id
left join refunded_orders r on r.order_id = o.order_id
where o.status <> 'cancelled'
""".strip()


def build_feature_table(warehouse, table: str, tables: Tables) -> int:
    """(Re)build `table` in one statement, so a failed run leaves the previous version readable."""
    schema, name = table.split(".")
    with warehouse.get_connection() as conn:
        _execute(conn, f"create schema if not exists {quote_identifier(schema)}")
        _execute(conn, f"create or replace table {quote_table(table)} as {features_select(tables)}")
    ((rows,),) = fetch_all(warehouse, f"select count(*) from {quote_table(table)}")
    return int(rows)


def table_schema(warehouse, table: str, columns: Sequence[str] = FEATURES) -> dict[str, str]:
    """Warehouse types of `columns` in `table` (absent columns are left out, so a dropped one shows)."""
    schema, name = table.split(".")
    quote_table(table)  # validated: the literals below are identifiers, never free text
    rows = fetch_all(
        warehouse,
        "select lower(column_name), upper(data_type) from information_schema.columns "
        f"where lower(table_schema) = '{schema.lower()}' and lower(table_name) = '{name.lower()}'",
    )
    types = dict(rows)
    return {c: types[c] for c in columns if c in types}


def schema_differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Human-readable differences between a model's training schema and a table's, empty if they match."""
    problems = [f"missing column {c} ({t})" for c, t in expected.items() if c not in actual]
    problems += [
        f"column {c} is {actual[c]}, the model was trained on {t}"
        for c, t in expected.items()
        if c in actual and actual[c] != t
    ]
    problems += [f"unexpected column {c} ({t})" for c, t in actual.items() if c not in expected]
    return problems


def _execute(conn, sql: str) -> None:
    if hasattr(conn, "cursor") and not hasattr(conn, "fetchall"):  # Snowflake connector
        with conn.cursor() as cur:
            cur.execute(sql)
    else:
        conn.execute(sql)
