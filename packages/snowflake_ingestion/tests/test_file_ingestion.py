"""FileIngestionComponent end to end: the sandbox's real landing files, a real DuckDB warehouse in tmp_path,
real Dagster runs. Nothing is mocked."""

from datetime import UTC, date, datetime

import dagster as dg
import pytest
from dataplat_core.testing import checks_by_name
from dataplat_sandbox.landing import atomic_write, write_landing
from dataplat_snowflake_ingestion.resources import LandingLocation
from files_support import (
    JOB,
    TABLE,
    data_lines,
    duplicate_keys,
    failure_message,
    file_defs,
    partition_counts,
    run_range,
    unchanged_partitions,
    warehouse,
)

DAY1, DAY2 = date(2026, 1, 1), date(2026, 1, 2)


def _expected(landing, days) -> dict[str, int]:
    return {d: data_lines(landing / "sales" / f"{d}.csv") for d in days}


def test_definitions_declare_partitions_backfill_pool_checks_schedule_and_sensor(platform_env):
    with file_defs() as defs:
        dg.Definitions.validate_loadable(defs)
        asset = defs.resolve_assets_def(dg.AssetKey(["raw_files", "sales"]))
        assert asset.partitions_def.get_partition_keys()[0] == "2026-01-01"
        assert len(asset.partitions_def.get_partition_keys()) == 14
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()
        assert asset.op.pool == "warehouse"
        names = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
        assert names == {
            "completeness",
            "partition_dates",
            "reject_rate",
            "schema_drift",
            "file_row_count",
            "primary_key_unique",
            "keys_not_null",
            "row_count",
        }
        assert defs.resolve_schedule_def("raw_files__sales_daily").cron_schedule == "0 2 * * *"
        assert defs.resolve_sensor_def("raw_files__sales_files").job_name == JOB


def _schedule_tick(defs, instance, landing, when: datetime):
    schedule = defs.resolve_schedule_def("raw_files__sales_daily")
    # A context manager: the context opens its own instance from the ref, and one left to the garbage
    # collector resets Dagster's defs-state context variable out of order, breaking later loads.
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"landing": LandingLocation(url=str(landing))},
        repository_def=defs.get_repository_def(),  # partitioned run requests are validated against the job
    ) as context:
        return schedule.evaluate_tick(context)


def test_schedule_requests_the_partition_that_just_ended_unless_its_file_is_loaded(
    platform_env, landing_folder
):
    when = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    with file_defs() as defs, dg.instance_for_test() as instance:
        (request,) = _schedule_tick(defs, instance, landing_folder, when).run_requests
        assert request.partition_key == "2026-01-04"
        assert run_range(defs, "2026-01-04", None, instance).success
        skipped = _schedule_tick(defs, instance, landing_folder, when)
        assert skipped.run_requests == []
        assert "2026-01-04.csv: unchanged since it was loaded" in skipped.skip_message


def test_backfill_of_a_date_range_is_one_run_with_one_materialization_per_partition(
    platform_env, landing_folder
):
    days = [f"2026-01-0{i}" for i in range(1, 6)]
    with file_defs() as defs:
        result = run_range(defs, days[0], days[-1])
    assert result.success
    mats = {
        e.materialization.partition: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    expected = _expected(landing_folder, days)
    assert {pk: m["dataplat/rows_loaded"].value for pk, m in mats.items()} == expected
    assert {m["dagster/row_count"].value for m in mats.values()} == {sum(expected.values())}  # the table's
    assert all(m["rows_rejected"].value == 0 and m["bytes"].value > 0 for m in mats.values())
    assert partition_counts(platform_env) == expected
    evaluations = checks_by_name(result)
    assert all(e.passed for e in evaluations.values()), {n: e.passed for n, e in evaluations.items()}
    assert evaluations["file_row_count"].metadata["file_data_lines"].value == sum(expected.values())


def test_every_declared_check_is_evaluated_by_a_partitioned_load_also_when_no_file_changed(
    platform_env, landing_folder
):
    """The table's row count and freshness are evaluated by the load step itself: as a step of their own they
    were skipped in every run, because the load yields materializations per partition, not an output."""
    days = ["2026-01-01", "2026-01-02"]
    ten_years = 24 * 3650  # the sandbox's dates are fixed; what is checked is that the check runs
    with (
        file_defs(freshness={"column": "order_ts", "max_lag_hours": ten_years}) as defs,
        dg.instance_for_test() as instance,
    ):
        declared = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
        assert {"row_count", "freshness"} <= declared
        first = run_range(defs, days[0], days[-1], instance)
        again = run_range(defs, days[0], days[-1], instance)  # every file unchanged: nothing reloaded
    for result in (first, again):
        assert result.success
        assert set(checks_by_name(result)) == declared
        skipped = [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SKIPPED]
        assert skipped == []
    assert unchanged_partitions(again) == len(days)
    for result in (first, again):
        assert checks_by_name(result)["row_count"].passed
        assert checks_by_name(result)["row_count"].metadata["rows"].value == sum(
            _expected(landing_folder, days).values()
        )
        assert checks_by_name(result)["freshness"].passed, checks_by_name(result)["freshness"].metadata


def test_the_table_checks_fail_naming_the_missing_table_when_no_file_was_ever_published(
    platform_env, landing_folder
):
    (landing_folder / "sales" / "2026-01-03.csv").unlink()
    with file_defs() as defs:
        result = run_range(defs, "2026-01-03")
    assert not result.success
    row_count = checks_by_name(result)["row_count"]
    assert not row_count.passed
    assert "raw_files.sales does not exist" in row_count.metadata["not_evaluated"].value


def test_rerun_replaces_partitions_without_duplicates(platform_env, landing_folder):
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, "2026-01-01", "2026-01-03", instance).success
        assert run_range(defs, "2026-01-01", "2026-01-03", instance).success
        assert partition_counts(platform_env) == _expected(
            landing_folder, ["2026-01-01", "2026-01-02", "2026-01-03"]
        )
        assert duplicate_keys(platform_env) == 0
        # The day's file is re-exported with fewer rows: the partition shrinks to exactly the new file.
        path = landing_folder / "sales" / "2026-01-02.csv"
        atomic_write(path, "".join(path.read_text().splitlines(keepends=True)[:101]).encode())
        assert run_range(defs, "2026-01-02", None, instance).success
    assert partition_counts(platform_env)["2026-01-02"] == 100
    assert (
        partition_counts(platform_env)["2026-01-01"]
        == _expected(landing_folder, ["2026-01-01"])["2026-01-01"]
    )


FAILING_DEFECTS = {
    "missing_column": "missing column(s) amount",
    "extra_column": "new column(s) coupon_code",
    "retyped_column": "retyped column(s) customer_id",
    "empty_file": "the file is empty (0 bytes)",
    "header_only": "has a header but no data rows",
    "wrong_delimiter": "wrong delimiter",
    "not_csv": "not a CSV text file",
}


@pytest.mark.parametrize("defect", sorted(FAILING_DEFECTS))
def test_defective_file_fails_naming_the_file_and_leaves_loaded_data_untouched(
    platform_env, landing_folder, defect
):
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, "2026-01-01", "2026-01-02", instance).success
        before = partition_counts(platform_env)
        write_landing(landing_folder, _config(), dates=[DAY2], defects={DAY2: defect})
        result = run_range(defs, "2026-01-01", "2026-01-02", instance)
    assert not result.success
    message = failure_message(result)
    assert "2026-01-02.csv" in message and FAILING_DEFECTS[defect] in message, message
    # Day 2 keeps its previous load (the bad file never reached the transaction); day 1's file is the one
    # loaded already, so it is not loaded again and keeps its materialization.
    assert partition_counts(platform_env) == before
    assert result.get_asset_materialization_events() == []
    assert unchanged_partitions(result) == 1
    drift = checks_by_name(result)["schema_drift"]
    assert drift.passed is (defect not in ("missing_column", "extra_column", "retyped_column"))


def _config():
    from dataplat_sandbox.config import SandboxConfig

    return SandboxConfig(seed=7, orders=2_000, days=14)


def test_bad_types_above_the_fail_rate_refuse_the_delivery_into_quarantine(platform_env, landing_folder):
    files = write_landing(landing_folder, _config(), dates=[DAY2], defects={DAY2: "bad_types"})
    bad, total = files.bad_rows[DAY2], files.rows[DAY2]
    with file_defs() as defs:
        result = run_range(defs, "2026-01-02")
    # 13 of 256 lines (5.1 %) > fail threshold 5 %: refused before publishing, blocking ERROR check.
    assert not result.success
    reject = checks_by_name(result)["reject_rate"]
    assert not reject.passed and reject.severity == dg.AssetCheckSeverity.ERROR
    assert reject.metadata["rows_rejected"].value == bad
    assert checks_by_name(result)["file_row_count"].passed
    message = failure_message(result)
    assert "2026-01-02.csv: not published" in message and "reject_rate: 13 of 256 (5.08%)" in message, message
    assert partition_counts(platform_env) == {}  # nothing published
    with warehouse(platform_env) as wh:
        assert wh.execute(f"select count(*) from {TABLE}_rejects").fetchone() == (0,)
        quarantined = wh.execute(
            f"select partition_date::VARCHAR, file, line, column_name, error_type, reason "
            f"from {TABLE}_quarantine order by line"
        ).fetchall()
    assert len(quarantined) == total  # the whole delivery, each line once
    assert {r[0] for r in quarantined} == {"2026-01-02"} and all(
        r[1].endswith("2026-01-02.csv") for r in quarantined
    )
    rejected = [r for r in quarantined if r[4] == "CAST"]
    assert (
        len(rejected) == bad and rejected[0][2] == 2 and {r[3] for r in rejected} == {"quantity", "order_ts"}
    )
    assert "Could not convert" in rejected[0][5]
    refused = [r for r in quarantined if r[4] == "REFUSED"]
    assert len(refused) == total - bad and all("reject_rate: 13 of 256" in r[5] for r in refused)
    assert [r[2] for r in quarantined] == list(range(2, total + 2))  # every line of the file, named


@pytest.mark.parametrize(
    ("warn", "fail", "passed", "severity"),
    [(0.01, 0.10, False, dg.AssetCheckSeverity.WARN), (0.10, 0.20, True, None)],
)
def test_reject_rate_thresholds(platform_env, landing_folder, warn, fail, passed, severity):
    write_landing(landing_folder, _config(), dates=[DAY2], defects={DAY2: "bad_types"})
    with file_defs(reject_rate={"warn": warn, "fail": fail}) as defs:
        result = run_range(defs, "2026-01-02")
    assert result.success  # below the fail threshold the run succeeds
    reject = checks_by_name(result)["reject_rate"]
    assert reject.passed is passed
    if severity:
        assert reject.severity == severity
    assert reject.metadata["max_reject_rate"].value == pytest.approx(13 / 256, abs=1e-6)


def test_rerun_of_a_partition_replaces_its_rejects(platform_env, landing_folder):
    write_landing(landing_folder, _config(), dates=[DAY2], defects={DAY2: "bad_types"})
    with file_defs(reject_rate={"warn": 0.2, "fail": 0.5}) as defs, dg.instance_for_test() as instance:
        assert run_range(defs, "2026-01-02", None, instance).success
        write_landing(landing_folder, _config(), dates=[DAY2])  # the corrected export
        assert run_range(defs, "2026-01-02", None, instance).success
    with warehouse(platform_env) as wh:
        assert wh.execute(f"select count(*) from {TABLE}_rejects").fetchone()[0] == 0
    assert partition_counts(platform_env) == {"2026-01-02": 256}


def test_drift_policy_evolve_adds_new_columns_and_loads_missing_ones_as_null(platform_env, landing_folder):
    write_landing(
        landing_folder, _config(), dates=[DAY1, DAY2], defects={DAY1: "missing_column", DAY2: "extra_column"}
    )
    with file_defs(schema_drift="evolve") as defs:
        result = run_range(defs, "2026-01-01", "2026-01-03")
    assert result.success, failure_message(result)
    drift = checks_by_name(result)["schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["new_columns"].value == "coupon_code"
    assert drift.metadata["missing_columns"].value == "amount"
    with warehouse(platform_env) as wh:
        by_day = dict(
            wh.execute(
                f"select _file_date::VARCHAR, count(amount) from {TABLE} group by 1 order by 1"
            ).fetchall()
        )
        coupons = wh.execute(
            f"select count(coupon_code) from {TABLE} where _file_date = '2026-01-02'"
        ).fetchone()[0]
        coupon_type = wh.execute(
            "select data_type from information_schema.columns where table_name = 'sales' and column_name = 'coupon_code'"
        ).fetchone()[0]
    assert by_day["2026-01-01"] == 0 and by_day["2026-01-02"] > 0 and by_day["2026-01-03"] > 0
    assert coupons > 0 and coupon_type == "VARCHAR"
    assert partition_counts(platform_env) == _expected(
        landing_folder, ["2026-01-01", "2026-01-02", "2026-01-03"]
    )
    metadata = {
        e.materialization.partition: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["2026-01-02"]["added_columns"].value == "coupon_code"
    assert metadata["2026-01-01"]["schema_drift"].value == "missing column(s) amount"


def test_drift_policy_evolve_still_refuses_a_retyped_column(platform_env, landing_folder):
    write_landing(landing_folder, _config(), dates=[DAY2], defects={DAY2: "retyped_column"})
    with file_defs(schema_drift="evolve") as defs:
        result = run_range(defs, "2026-01-02")
    assert not result.success
    assert "customer_id" in failure_message(result)
    drift = checks_by_name(result)["schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.ERROR


def test_missing_file_fails_its_partition_only(platform_env, landing_folder):
    (landing_folder / "sales" / "2026-01-03.csv").unlink()
    with file_defs() as defs:
        result = run_range(defs, "2026-01-02", "2026-01-04")
    assert not result.success
    assert "2026-01-03.csv: no such file" in failure_message(result)
    assert set(partition_counts(platform_env)) == {"2026-01-02", "2026-01-04"}


def test_a_landing_url_without_its_folder_fails_once_naming_the_setting_and_the_fix(
    platform_env, landing_folder, tmp_path, monkeypatch
):
    nowhere = tmp_path / "not-mounted"
    monkeypatch.setenv("LANDING_URL", f"file://{nowhere}")
    with file_defs() as defs:
        result = run_range(defs, "2026-01-02", "2026-01-04")
    assert not result.success
    message = failure_message(result)
    assert (
        f"LANDING_URL=file://{nowhere}: the landing folder {nowhere} does not exist. Point LANDING_URL"
        in message
    )
    assert "no such file" not in message  # said once for the folder, not once per day
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == []  # the folder does not appear by itself
