"""What the component declares: assets and keys from config, automation, the weekly schedule, validation."""

import dagster as dg
import pandas as pd
import pytest
from conftest import ROLES, component_defs
from dataplat_core.automation import upstream_changed
from dataplat_core.observability import error_chain
from dataplat_core.warehouse import InvalidIdentifier
from dataplat_ml_training.model import NotEnoughData, labeled, time_split

FEATURES = dg.AssetKey(["ml", "order_features"])
MODEL = dg.AssetKey(["ml", "refund_model"])
PREDICTIONS = dg.AssetKey(["ml", "refund_predictions"])


def test_assets_depend_on_the_ingestion_tables_by_key_only(platform_env):
    with component_defs() as (_, defs):
        graph = defs.resolve_asset_graph()
        sources = {
            dg.AssetKey(k)
            for k in (
                ["raw_shop", "orders"], ["raw_shop", "order_items"], ["raw_shop", "customers"],
                ["raw_shop", "products"], ["payments_api", "refunds"],
            )
        }  # fmt: skip
        assert graph.get(FEATURES).parent_keys == sources
        assert graph.get(MODEL).parent_keys == {FEATURES}
        assert graph.get(PREDICTIONS).parent_keys == {FEATURES, MODEL}
        assert graph.materializable_asset_keys == {FEATURES, MODEL, PREDICTIONS}
        for key in (FEATURES, MODEL, PREDICTIONS):
            assert graph.get(key).pools == {"warehouse"}


def test_retraining_is_automated_and_scheduled_weekly(platform_env):
    with component_defs() as (_, defs):
        graph = defs.resolve_asset_graph()
        # Each follows its upstreams when their data changed (a no-change load keeps the data version).
        for key in (FEATURES, MODEL, PREDICTIONS):
            assert graph.get(key).automation_condition == upstream_changed()
        schedule = defs.resolve_schedule_def("refund_model_weekly")
        assert schedule.cron_schedule == "0 3 * * 1"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        job = defs.resolve_job_def("refund_model_retraining")
        assert set(job.asset_layer.executable_asset_keys) == {FEATURES, MODEL, PREDICTIONS}
    config = {"retraining": {"automation_condition": "on_cron", "automation_cron": "0 5 * * *",
                             "schedule_cron": "0 2 * * 0", "schedule_running": True}}  # fmt: skip
    with component_defs(config) as (_, defs):
        condition = defs.resolve_asset_graph().get(MODEL).automation_condition
        assert condition == dg.AutomationCondition.on_cron("0 5 * * *", "UTC")
        schedule = defs.resolve_schedule_def("refund_model_weekly")
        assert schedule.cron_schedule == "0 2 * * 0"
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with component_defs({"retraining": {"automation_condition": "none"}}) as (_, defs):
        assert defs.resolve_asset_graph().get(MODEL).automation_condition is None


def test_names_come_from_config(platform_env):
    config = {"schema_name": "models", "model_name": "refund_risk", "features_table": "refund_features"}
    with component_defs(config) as (_, defs):
        keys = defs.resolve_asset_graph().materializable_asset_keys
        assert dg.AssetKey(["models", "refund_risk"]) in keys
        assert dg.AssetKey(["models", "refund_features"]) in keys
        assert defs.resolve_schedule_def("refund_risk_weekly")


@pytest.mark.parametrize(
    "config",
    [
        {"features_table": "x; drop table raw_shop.orders"},
        {"sources": {"orders": {"table": "raw_shop.orders--", "asset_key": "raw_shop/orders"}}},
    ],
)
def test_a_hostile_table_name_is_rejected_when_the_location_loads(platform_env, config):
    with pytest.raises(Exception) as info:
        with component_defs(config):
            pass
    assert any(isinstance(e, InvalidIdentifier) for e in error_chain(info.value))


def _frame(days: int, refund_every: int = 5) -> pd.DataFrame:
    ts = pd.date_range("2026-01-01", periods=days * 4, freq="6h", tz="UTC")
    return pd.DataFrame(
        {
            "order_id": range(1, len(ts) + 1),
            "order_ts": ts,
            "refunded": [int(i % refund_every == 0) for i in range(len(ts))],
        }
    )


def test_time_split_trains_on_the_past_and_tests_on_the_future():
    frame = _frame(10)
    split = time_split(frame, ROLES, test_fraction=0.25)
    assert len(split.test) == 10 and len(split.train) == 30
    assert split.train["order_ts"].max() < split.cutoff <= split.test["order_ts"].min()
    fixed = time_split(frame, ROLES, cutoff="2026-01-08")  # naive: UTC
    assert fixed.test["order_ts"].min() == pd.Timestamp("2026-01-08", tz="UTC") and len(fixed.test) == 12
    with pytest.raises(NotEnoughData):
        time_split(frame, ROLES, cutoff="2027-01-01")
    with pytest.raises(ValueError):
        time_split(frame, ROLES, test_fraction=1.0)


def test_orders_younger_than_the_maturity_window_are_not_trained_on():
    frame = _frame(10)
    kept = labeled(frame, ROLES, maturity_days=3)
    assert kept["order_ts"].max() == frame["order_ts"].max() - pd.Timedelta(days=3)
    assert len(kept) == len(frame) - 12
