"""Daily partitions drive the incremental window: backfills load exactly their days, re-runs are idempotent."""

from datetime import UTC, datetime

import pytest
from conftest import api_rows
from dataplat_api_sources.partitions import Window, incremental_window_config, iso_utc, partition_window

DAY3, DAY4, DAY6 = "2026-01-03", "2026-01-04", "2026-01-06"


def _utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _expected(api, path: str, key: str, cursor: str, start: str, end: str) -> set:
    since, until = (
        ("created_since", "created_until") if cursor == "created_at" else ("updated_since", "updated_until")
    )
    return {r[key] for r in api_rows(api, path, **{since: f"{start}T00:00:00Z", until: f"{end}T00:00:00Z"})}


def _loaded(platform, table: str, key: str) -> list:
    return [r[0] for r in platform.query(f"select {key} from payments_api.{table}")]


def test_window_label_and_iso_format():
    assert Window(_utc(DAY3), _utc(DAY4)).label == "20260103"
    assert Window(_utc(DAY3), _utc(DAY6)).label == "20260103_20260106"
    assert iso_utc(_utc(DAY3)) == "2026-01-03T00:00:00Z"
    with pytest.raises(ValueError, match="empty window"):
        Window(_utc(DAY4), _utc(DAY3))


def test_incremental_config_is_bounded_only_when_partitioned():
    window = Window(_utc(DAY3), _utc(DAY4))
    bounded = incremental_window_config(
        "updated_at", "updated_since", "updated_until", window, _utc("2026-01-01")
    )
    assert bounded["initial_value"] == window.start and bounded["end_value"] == window.end
    assert bounded["range_end"] == "open" and bounded["end_param"] == "updated_until"
    open_ended = incremental_window_config(
        "updated_at", "updated_since", "updated_until", None, _utc("2026-01-01")
    )
    assert open_ended["initial_value"] == _utc("2026-01-01")
    assert "end_value" not in open_ended and "end_param" not in open_ended


def test_partition_window_of_unpartitioned_context_is_none():
    class Unpartitioned:
        has_partition_key = False
        has_partition_key_range = False

    assert partition_window(Unpartitioned()) is None


def test_rerunning_a_day_is_idempotent_for_merge_and_append(make_platform, payments_api):
    platform = make_platform(partition_start="2026-01-01")
    assert platform.run(DAY3).success
    first = {
        t: sorted(_loaded(platform, t, k)) for t, k in (("payments", "payment_id"), ("events", "event_id"))
    }
    assert platform.run(DAY3).success
    second = {
        t: sorted(_loaded(platform, t, k)) for t, k in (("payments", "payment_id"), ("events", "event_id"))
    }
    assert first == second and first["events"]


def test_two_partitions_do_not_interfere_and_keep_separate_state(make_platform, payments_api):
    platform = make_platform(partition_start="2026-01-01")
    assert platform.run(DAY3).success
    assert platform.run(DAY4).success
    assert set(_loaded(platform, "payments", "payment_id")) == _expected(
        payments_api, "payments", "payment_id", "updated_at", DAY3, "2026-01-05"
    )
    states = {r[0] for r in platform.query("select pipeline_name from payments_api._dlt_pipeline_state")}
    assert {"payments_api__20260103", "payments_api__20260104"} <= states


def test_partition_row_count_check_fails_below_the_minimum(make_platform):
    platform = make_platform(partition_start="2026-01-01", min_rows_per_partition=100_000)
    result = platform.run(DAY3, checks=True)
    assert result.success  # WARN severity: the load stands, the check reports
    failed = {
        e.asset_key.path[-1]
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.check_name == "partition_row_count"
    }
    assert failed == {"payments", "refunds", "events"}
