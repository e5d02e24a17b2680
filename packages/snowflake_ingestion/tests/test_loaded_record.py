"""One record of what is loaded (#14): each partition's materialization records the file it loaded, and the
asset, the sensor and the schedule consult it, so an unchanged file is never loaded twice unless a run asks.
The sandbox's real landing files, a real DuckDB warehouse, real Dagster runs on a real instance."""

import hashlib
import os
import time

import dagster as dg
from dataplat_sandbox.landing import atomic_write
from dataplat_snowflake_ingestion.files.identity import FileIdentity, recorded_identities
from dataplat_snowflake_ingestion.resources import LandingLocation
from files_support import file_defs as _file_defs
from files_support import partition_counts, run_range, unchanged_partitions

KEY = dg.AssetKey(["raw_files", "sales"])
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
SENSOR = "raw_files__sales_files"


def file_defs():
    return _file_defs(sensor={"min_file_age_seconds": 0})


def _settle(path) -> None:
    """A file written by the test is seconds old: date it back so the completeness rule need not wait."""
    past = time.time() - 600
    os.utime(path, (past, past))


def _loaded(result) -> list[str]:
    return sorted(e.materialization.partition for e in result.get_asset_materialization_events())


def _sensor_tick(defs, landing, instance) -> dg.SensorResult:
    """One tick with no cursor: what a sensor that never ran before requests."""
    sensor = defs.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(
        instance=instance, resources={"landing": LandingLocation(url=str(landing))}, definitions=defs
    ) as context:
        return sensor.evaluate_tick(context)


def test_the_materialization_records_the_file_it_loaded(platform_env, landing_folder):
    path = landing_folder / "sales" / f"{DAYS[0]}.csv"
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, DAYS[0], None, instance).success
        recorded = recorded_identities(instance, KEY, [DAYS[0], DAYS[1]])
    stat = path.stat()
    assert recorded == {
        DAYS[0]: FileIdentity(stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    }


def test_a_rerun_over_unchanged_files_loads_nothing_and_materializes_nothing(platform_env, landing_folder):
    with file_defs() as defs, dg.instance_for_test() as instance:
        first = run_range(defs, DAYS[0], DAYS[-1], instance)
        assert first.success and _loaded(first) == list(DAYS)
        before = partition_counts(platform_env)
        again = run_range(defs, DAYS[0], DAYS[-1], instance)
        assert again.success
        assert _loaded(again) == [] and unchanged_partitions(again) == 3
        assert partition_counts(platform_env) == before


def test_an_identical_redelivery_is_not_loaded_a_changed_one_is(platform_env, landing_folder):
    sales = landing_folder / "sales"
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, DAYS[0], DAYS[1], instance).success
        # The same bytes delivered again (a new mtime): recognised by content.
        same = sales / f"{DAYS[0]}.csv"
        atomic_write(same, same.read_bytes())
        _settle(same)
        # A corrected file for day 2: one more order line.
        changed = sales / f"{DAYS[1]}.csv"
        atomic_write(changed, changed.read_bytes() + b"999999,1,2026-01-02T23:59:59Z,1,1,1,1.00,1.00\n")
        _settle(changed)
        rerun = run_range(defs, DAYS[0], DAYS[1], instance)
        assert rerun.success
        assert _loaded(rerun) == [DAYS[1]] and unchanged_partitions(rerun) == 1
        assert recorded_identities(instance, KEY, [DAYS[1]])[DAYS[1]].size == changed.stat().st_size


def test_a_run_tagged_reload_loads_unchanged_files_again(platform_env, landing_folder):
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, DAYS[0], DAYS[1], instance).success
        forced = run_range(defs, DAYS[0], DAYS[1], instance, reload=True)
        assert forced.success
        assert _loaded(forced) == [DAYS[0], DAYS[1]] and unchanged_partitions(forced) == 0


def test_the_sensor_requests_only_files_that_are_not_loaded(platform_env, landing_folder):
    sales = landing_folder / "sales"
    for path in sales.iterdir():
        _settle(path)
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, DAYS[0], DAYS[1], instance).success
        # A fresh cursor (a new instance of the sensor, the demo's state opened by `dg dev`): the record
        # still says which files are loaded.
        first = _sensor_tick(defs, landing_folder, instance)
        requested = sorted(r.partition_key for r in first.run_requests)
        assert DAYS[0] not in requested and DAYS[1] not in requested
        assert DAYS[2] in requested and len(requested) == len(list(sales.glob("*.csv"))) - 2
        # Day 1 re-delivered with the same bytes: no run.
        same = sales / f"{DAYS[0]}.csv"
        atomic_write(same, same.read_bytes())
        _settle(same)
        second = _sensor_tick(defs, landing_folder, instance)
        assert DAYS[0] not in {r.partition_key for r in second.run_requests}
