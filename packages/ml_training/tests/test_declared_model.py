"""A second model, declared in YAML and SQL alone: the component holds no table, column or label of its own."""

import pytest
from conftest import component_defs, materialization, query, run
from dataplat_core.observability import error_chain_text

# Will an order's basket hold three lines or more? Another key, label, feature set and source set than the
# refund model's, over the same warehouse; a throwaway model, so its quality gate is off.
BASKET_SQL = """
with lines as (select order_id, count(*) as n_lines from $items group by order_id)
select
    o.order_id as basket_id,
    o.order_ts as placed_at,
    cast(o.channel as varchar) as sales_channel,
    cast(o.discount_pct as double) as discount,
    cast(case when coalesce(l.n_lines, 0) >= 3 then 1 else 0 end as integer) as big_basket
from $orders o
left join lines l on l.order_id = o.order_id
"""
BASKET_MODEL = {
    "model_name": "basket_model",
    "schema_name": "basket_ml",
    "sources": {
        "orders": {"table": "raw_shop.orders", "asset_key": "raw_shop/orders"},
        "items": {"table": "raw_shop.order_items", "asset_key": "raw_shop/order_items"},
    },
    "features": {
        "sql": "features.sql",
        "key": "basket_id",
        "time": "placed_at",
        "label": "big_basket",
        "categorical": ["sales_channel"],
        "numeric": ["discount"],
    },
    "split": {"label_maturity_days": 7},
    "checks": {"min_roc_auc": 0.0, "max_auc_drop": 1.0},
}


def test_a_model_declared_in_yaml_and_sql_alone_trains_and_scores(warehouse):
    only_basket = {k: None for k in ("features_table", "predictions_table")} | {
        "predictions_column": "probability"
    }
    with component_defs({**BASKET_MODEL, **only_basket}, features_sql=BASKET_SQL) as (component, defs):
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().materializable_asset_keys}
        assert keys == {
            "basket_ml/basket_model_features",
            "basket_ml/basket_model",
            "basket_ml/basket_model_predictions",
        }
        result = run(defs)
    assert result.success
    trained = materialization(result, "basket_ml/basket_model").metadata
    ((rows, positives),) = query(
        warehouse, "select count(*), sum(big_basket) from basket_ml.basket_model_features"
    )
    assert 0 < positives < rows
    assert trained["train_rows"].value + trained["test_rows"].value <= rows
    columns = [r[0] for r in query(
        warehouse,
        "select column_name from information_schema.columns where table_schema = 'basket_ml' "
        "and table_name = 'basket_model_predictions' order by ordinal_position",
    )]  # fmt: skip
    assert columns == ["basket_id", "probability", "model_version", "scored_at"]
    ((scored, low, high),) = query(
        warehouse,
        "select count(*), min(probability), max(probability) from basket_ml.basket_model_predictions",
    )
    assert scored > 0 and 0 <= low <= high <= 1
    assert component.roles.features == ("sales_channel", "discount")


def test_an_inline_select_needs_no_file(warehouse):
    inline = {**BASKET_MODEL, "features": {**BASKET_MODEL["features"], "sql": BASKET_SQL}}
    with component_defs(inline, features_sql="") as (component, _):
        select = component.feature_select()
    assert 'from "raw_shop"."orders" o' in select and "$" not in select


@pytest.mark.parametrize("role", ["key", "time", "label"])
def test_each_role_names_one_column(role):
    features = {**BASKET_MODEL["features"], role: "discount"}
    with pytest.raises(Exception) as err:
        with component_defs({**BASKET_MODEL, "features": features}, features_sql=BASKET_SQL):
            pass
    assert "a column has one role: ['discount'] declared twice" in error_chain_text(err.value)
