"""The feature table against the sandbox generator's ground truth (the values its refund model used)."""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from conftest import REFUND_MODEL, component_defs, query, run
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.testing import checks_by_name
from dataplat_sandbox import data as truth


def test_feature_table_reproduces_the_generators_features_and_labels(warehouse, sandbox_config):
    with component_defs() as (_, defs):
        result = run(defs, "ml/order_features")
    assert result.success
    assert all(e.passed for e in checks_by_name(result).values())

    o = truth.generate_cached(sandbox_config).orders
    kept = o.status != truth.CANCELLED
    expected = pd.DataFrame(
        {
            "order_id": o.order_id[kept],
            "channel": np.array(truth.CHANNELS)[o.channel[kept]],
            "category": np.array(truth.CATEGORIES)[o.main_category[kept]],
            "total_amount": o.total_cents[kept] / 100,
            "discount_pct": o.discount_pct[kept].astype(float),
            "tenure_days": o.tenure_days[kept],
            "refunded": o.refunded[kept].astype(int),
        }
    )
    rows = query(
        warehouse,
        "select order_id, channel, category, total_amount, discount_pct, tenure_days, refunded,"
        " n_lines, n_units, country from ml.order_features order by order_id",
    )
    got = pd.DataFrame(
        rows,
        columns=[
            "order_id", "channel", "category", "total_amount", "discount_pct", "tenure_days", "refunded",
            "n_lines", "n_units", "country",
        ],
    )  # fmt: skip
    assert got["order_id"].tolist() == expected["order_id"].tolist()  # every kept order once, no cancelled
    for column in ("channel", "category", "refunded"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert np.allclose(got["total_amount"], expected["total_amount"])
    assert np.allclose(got["discount_pct"], expected["discount_pct"])
    # From a signup *date*, tenure is the true (second-precise) one or one day more, never anything else.
    assert ((got["tenure_days"] - expected["tenure_days"]).isin([0, 1])).all()
    assert (got["tenure_days"] == expected["tenure_days"]).mean() > 0.3
    assert got["refunded"].sum() > 0 and got["country"].notna().all()

    items = truth.generate_cached(sandbox_config).items
    lines = pd.DataFrame({"order_id": items.order_id, "q": items.quantity}).groupby("order_id")["q"]
    expected_lines = lines.count().reindex(got["order_id"]).to_numpy()
    expected_units = lines.sum().reindex(got["order_id"]).to_numpy()
    assert (got["n_lines"].to_numpy() == expected_lines).all()
    assert (got["n_units"].to_numpy() == expected_units).all()


def test_feature_table_is_replaced_not_appended(warehouse):
    with component_defs() as (_, defs):
        assert run(defs, "ml/order_features").success
        assert run(defs, "ml/order_features").success
    ((rows, distinct),) = query(warehouse, "select count(*), count(distinct order_id) from ml.order_features")
    ((orders,),) = query(warehouse, "select count(*) from raw_shop.orders where status <> 'cancelled'")
    assert rows == distinct == orders


def test_source_tables_are_configurable(warehouse):
    """Other table names and asset keys: the SQL reads the configured tables, the deps follow the keys."""
    with duckdb.connect(warehouse, config=duckdb_connection_config()) as conn:
        conn.execute(
            "create schema payments; create table payments.refund_rows as select * from payments_api.refunds"
        )
        conn.execute("drop table payments_api.refunds")
    refunds = {"table": "payments.refund_rows", "asset_key": "payments/refund_rows"}
    attributes = {"sources": {**REFUND_MODEL["sources"], "refunds": refunds}}
    with component_defs(attributes) as (_, defs):
        parents = (
            defs.resolve_asset_graph().get(dg.AssetKey.from_user_string("ml/order_features")).parent_keys
        )
        assert (
            dg.AssetKey.from_user_string("payments/refund_rows") in parents
            and dg.AssetKey.from_user_string("payments_api/refunds") not in parents
        )
        assert dg.AssetKey.from_user_string("raw_shop/orders") in parents
        assert run(defs, "ml/order_features").success
    ((refunded,),) = query(warehouse, "select sum(refunded) from ml.order_features")
    assert refunded > 0
