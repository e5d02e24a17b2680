"""Every shop mart on the sandbox's real data: DuckDB results checked against the sources, then the same
marts (transpiled to Snowflake SQL) run through the Snowflake connector on fakesnow with identical results."""

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from conftest import DEFECT_DAY
from shop_defs import MARTS, marts_yaml, materialize_all, shop_defs

ALL_MARTS = [*MARTS, "pipeline_health"]


def _mart(warehouse_path, name: str, order_by: str = "1, 2") -> list[tuple]:
    with duckdb.connect(str(warehouse_path), read_only=True) as wh:
        return wh.execute(f"select * from marts.{name} order by {order_by}").fetchall()


def _normalized(rows: list[tuple]) -> list[tuple]:
    """Values as both warehouses agree on them: numbers to 6 decimals, timestamps in UTC."""

    def norm(v):
        if isinstance(v, (Decimal, float)):
            return round(float(v), 6)
        if isinstance(v, datetime):
            return v.astimezone().isoformat() if v.tzinfo else v.isoformat()
        return v

    return [tuple(norm(v) for v in row) for row in rows]


@pytest.fixture
def duckdb_run(shop_warehouse):
    with shop_defs() as defs:
        result = materialize_all(defs)
    assert result.success
    return result


@pytest.fixture
def refunds(sandbox_config) -> dict[int, Decimal]:
    """Refunded amount per order, straight from the payments generator behind the API."""
    from dataplat_sandbox.data import generate_payments

    r = generate_payments(sandbox_config).refunds
    out: dict[int, Decimal] = defaultdict(Decimal)
    for order_id, cents in zip(r["order_id"].tolist(), r["amount_cents"].tolist(), strict=True):
        out[order_id] += Decimal(cents) / 100
    return dict(out)


def _pg(sandbox_postgres, sql: str) -> list[tuple]:
    with sandbox_postgres.connect() as pg:
        return pg.execute(sql).fetchall()


def test_every_mart_and_check_runs_on_duckdb(duckdb_run):
    keys = {e.asset_key.path[-1] for e in duckdb_run.get_asset_materialization_events()}
    assert set(ALL_MARTS) <= keys
    evaluations = duckdb_run.get_asset_check_evaluations()
    by_mart = defaultdict(set)
    for e in evaluations:
        by_mart[e.asset_key.path[-1]].add(e.check_name)
        assert e.passed, (e.asset_key, e.check_name, e.metadata)
    for mart in ALL_MARTS:  # every mart: key checks, row count and its data freshness
        assert by_mart[mart] == {"primary_key_unique", "keys_not_null", "row_count", "freshness"}


def test_daily_revenue_matches_postgres(duckdb_run, shop_warehouse, sandbox_postgres):
    expected = _pg(
        sandbox_postgres,
        "select (order_ts at time zone 'UTC')::date, count(*), count(distinct customer_id), sum(total_amount)"
        " from shop.orders where status <> 'cancelled' group by 1 order by 1",
    )
    got = [(d, n, c, r) for d, n, c, r, _aov, _last in _mart(shop_warehouse, "daily_revenue")]
    assert got == expected and len(got) == 14


def _orders(sandbox_postgres) -> list[tuple]:
    """(order_id, UTC day, channel, first line's category) of every non-cancelled order."""
    return _pg(
        sandbox_postgres,
        "select o.order_id, (o.order_ts at time zone 'UTC')::date, o.channel, p.category from shop.orders o"
        " join shop.order_items i on i.order_id = o.order_id and i.line_no = 1"
        " join shop.products p on p.product_id = i.product_id where o.status <> 'cancelled'",
    )


def test_refund_rate_per_day_matches_the_payments_api(duckdb_run, shop_warehouse, sandbox_postgres, refunds):
    orders, refunded, amount = Counter(), Counter(), defaultdict(Decimal)
    for order_id, day, _, _ in _orders(sandbox_postgres):
        orders[day] += 1
        if order_id in refunds:
            refunded[day] += 1
            amount[day] += refunds[order_id]
    got = _mart(shop_warehouse, "refund_rate_daily")
    assert [(d, n, r) for d, n, r, *_ in got] == [(d, orders[d], refunded[d]) for d in sorted(orders)]
    for d, n, r, refund_amount, rate, _ in got:
        assert rate == pytest.approx(r / n, abs=1e-6)
        assert refund_amount == pytest.approx(float(amount[d]), abs=0.005)
    total_rate = sum(refunded.values()) / sum(orders.values())
    assert 0.04 < total_rate < 0.15  # the sandbox's refund model: about 7-9 %


def test_refund_rate_per_channel_and_category(duckdb_run, shop_warehouse, sandbox_postgres, refunds):
    counts = defaultdict(lambda: [0, 0])
    for order_id, _, channel, category in _orders(sandbox_postgres):
        for key in (("channel", channel), ("category", category)):
            counts[key][0] += 1
            counts[key][1] += order_id in refunds
    got = {
        (dim, seg): (n, int(r), rate)
        for dim, seg, n, r, rate, _ in _mart(shop_warehouse, "refund_rate_by_segment")
    }
    assert {k: v[:2] for k, v in got.items()} == {k: tuple(v) for k, v in counts.items()}
    assert {seg for dim, seg in got if dim == "channel"} == {"web", "app", "marketplace", "phone"}
    assert len([1 for dim, _ in got if dim == "category"]) == 8
    # The sandbox's refund model: marketplace refunds more than app, fashion more than books.
    assert got[("channel", "marketplace")][2] > got[("channel", "app")][2]
    assert got[("category", "fashion")][2] > got[("category", "books")][2]


def test_top_products_match_postgres(duckdb_run, shop_warehouse, sandbox_postgres):
    expected = _pg(
        sandbox_postgres,
        "select i.product_id, p.sku, sum(i.quantity), sum(i.quantity * i.unit_price) as revenue"
        " from shop.order_items i join shop.orders o on o.order_id = i.order_id"
        " join shop.products p on p.product_id = i.product_id"
        " where o.status <> 'cancelled' group by 1, 2 order by revenue desc, 1 limit 50",
    )
    got = _mart(shop_warehouse, "top_products")
    assert [r[0] for r in got] == list(range(1, len(expected) + 1))
    assert [(pid, sku, int(units), revenue) for _, pid, sku, _, _, units, revenue, *_ in got] == [
        (pid, sku, int(units), revenue) for pid, sku, units, revenue in expected
    ]


def test_customer_cohorts_match_postgres(duckdb_run, shop_warehouse, sandbox_postgres):
    expected = _pg(
        sandbox_postgres,
        """
        with c as (select customer_id, date_trunc('month', signup_date)::date as cohort from shop.customers),
        s as (select cohort, count(*) as size from c group by 1)
        select c.cohort,
            ((extract(year from o.order_ts at time zone 'UTC') - extract(year from c.cohort)) * 12
              + extract(month from o.order_ts at time zone 'UTC') - extract(month from c.cohort))::int as m,
            s.size, count(distinct o.customer_id), count(*), sum(o.total_amount)
        from shop.orders o join c using (customer_id) join s using (cohort)
        where o.status <> 'cancelled' group by 1, 2, 3 order by 1, 2
        """,
    )
    got = [row[:6] for row in _mart(shop_warehouse, "customer_cohorts")]
    assert got == [tuple(r) for r in expected]
    assert all(m >= 0 for _, m, *_ in got)  # nobody orders before signing up


def test_pipeline_health_counts_loaded_and_rejected_rows(
    duckdb_run, shop_warehouse, shop_sources, sandbox_postgres
):
    rows = {
        (s, d): (loaded, rejected)
        for s, d, loaded, rejected, _, _ in _mart(shop_warehouse, "pipeline_health")
    }
    files = shop_sources.landing
    for day, total in files.rows.items():
        bad = files.bad_rows.get(day, 0)
        assert rows[("raw_files.sales", day)] == (total - bad, bad)
    assert files.bad_rows[DEFECT_DAY] > 0
    orders = _pg(
        sandbox_postgres, "select (updated_at at time zone 'UTC')::date, count(*) from shop.orders group by 1"
    )
    assert {d: n for (s, d), (n, _) in rows.items() if s == "raw_shop.orders"} == dict(orders)
    assert any(s == "payments_api.refunds" for s, _ in rows)
    (mat,) = [
        e.materialization
        for e in duckdb_run.get_asset_materialization_events()
        if e.asset_key.path[-1] == "pipeline_health"
    ]
    assert mat.metadata["missing_sources"].value == "raw_files.not_loaded_yet"


def test_a_required_source_that_is_missing_fails_the_run(shop_warehouse):
    from shop_defs import HEALTH_YAML

    sources = HEALTH_YAML["attributes"]["sources"]
    sources[-1]["required"] = True
    try:
        with shop_defs() as defs:
            job = defs.resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(
                raise_on_error=False, asset_selection=[dg.AssetKey(["marts", "pipeline_health"])]
            )
    finally:
        sources[-1]["required"] = False
    assert not result.success


def test_stale_data_makes_the_freshness_check_warn(shop_warehouse):
    stale = {"max_lag_hours": 26, "column": "last_order_at", "max_data_age_hours": 24}
    with shop_defs(marts=marts_yaml(stale)) as defs:
        result = materialize_all(defs)
    assert result.success  # a warning, not a failed run
    freshness = [e for e in result.get_asset_check_evaluations() if e.check_name == "freshness"]
    marts = {e.asset_key.path[-1]: e for e in freshness if e.asset_key.path[-1] in MARTS}
    assert set(marts) == set(MARTS)
    assert all(not e.passed and e.severity == dg.AssetCheckSeverity.WARN for e in marts.values())


def test_marts_declare_freshness_policies(shop_warehouse):
    with shop_defs() as defs:
        graph = defs.resolve_asset_graph()
        for mart in ALL_MARTS:
            policy = graph.get(dg.AssetKey(["marts", mart])).freshness_policy
            assert policy is not None and policy.fail_window.to_timedelta().total_seconds() == 26 * 3600


def test_every_mart_gives_the_same_result_on_snowflake(duckdb_run, shop_warehouse, snowflake_warehouse):
    with shop_defs(resources={"warehouse": snowflake_warehouse}) as defs:
        job = defs.resolve_implicit_global_asset_job_def()
        marts = [dg.AssetKey(["marts", m]) for m in ALL_MARTS]
        result = job.execute_in_process(asset_selection=marts)
    assert result.success
    for e in result.get_asset_materialization_events():
        assert e.materialization.metadata["dialect"].value == "snowflake"
    assert all(e.passed for e in result.get_asset_check_evaluations())
    for mart in ALL_MARTS:
        order = "1, 2"
        _, snow = snowflake_warehouse.query(f'select * from "marts"."{mart}" order by {order}')
        local = _mart(shop_warehouse, mart, order)
        assert len(local) > 0 and _normalized(snow) == _normalized(local), mart


def test_sql_is_transpiled_for_snowflake(duckdb_run):
    (mat,) = [
        e.materialization
        for e in duckdb_run.get_asset_materialization_events()
        if e.asset_key.path[-1] == "daily_revenue"
    ]
    assert mat.metadata["dialect"].value == "duckdb"
    from dataplat_reporting.sql_mart import read_sql, statements_by_dialect
    from shop_defs import COMPOSITION, declared

    tables = declared("marts")["attributes"]["tables"]
    select = read_sql("daily_revenue.sql", COMPOSITION / "marts", tables)
    snowflake = statements_by_dialect("marts.daily_revenue", select)["snowflake"]
    # Identifiers quoted as written: Snowflake would otherwise resolve them to upper case.
    assert snowflake[0] == 'create schema if not exists "marts"' and '"raw_shop"."orders"' in snowflake[1]
