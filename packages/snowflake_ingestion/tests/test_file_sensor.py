"""The file sensor on the sandbox's real landing folder, evaluated with a real Dagster instance."""

import json
import os
import time

import dagster as dg
import pytest
from dataplat_sandbox.landing import atomic_write
from dataplat_snowflake_ingestion.resources import LandingLocation
from files_support import file_defs

SENSOR = "raw_files__sales_files"


def _age(*paths, seconds: float = 600) -> None:
    """Files written by a test are seconds old; make them look settled (this changes their identity)."""
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def _tick(defs, landing, instance, cursor=None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"landing": LandingLocation(url=str(landing))},
        definitions=defs,  # partitioned run requests are validated against the job's partitions
    ) as context:  # closed here, not by the garbage collector (see test_file_ingestion's schedule test)
        return sensor.evaluate_tick(context)


@pytest.fixture
def sensor_setup(platform_env, landing_folder):
    with file_defs(sensor={"min_file_age_seconds": 60}) as defs, dg.instance_for_test() as instance:
        _age(*(landing_folder / "sales").iterdir())
        yield defs, landing_folder, instance


def test_new_files_request_one_run_per_partition_and_the_cursor_round_trips(sensor_setup):
    defs, landing, instance = sensor_setup
    first = _tick(defs, landing, instance)
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == [f"2026-01-{d:02d}" for d in range(1, 15)]
    assert all(r.run_key.startswith(f"{r.partition_key}.csv:") for r in first.run_requests)
    assert set(json.loads(first.cursor)) == {f"{k}.csv" for k in keys}
    again = _tick(defs, landing, instance, cursor=first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor


def test_a_changed_file_runs_again_with_a_new_run_key(sensor_setup):
    defs, landing, instance = sensor_setup
    first = _tick(defs, landing, instance)
    old_key = {r.partition_key: r.run_key for r in first.run_requests}["2026-01-03"]
    path = landing / "sales" / "2026-01-03.csv"
    atomic_write(path, path.read_bytes() + b"999999,1,2026-01-03T23:59:59Z,1,1,1,1.00,1.00\n")
    _age(path)
    second = _tick(defs, landing, instance, cursor=first.cursor)
    (request,) = second.run_requests
    assert request.partition_key == "2026-01-03" and request.run_key != old_key
    assert request.tags["dataplat/file"] == "2026-01-03.csv"


def test_names_that_do_not_match_or_are_out_of_range_are_ignored(sensor_setup):
    defs, landing, instance = sensor_setup
    first = _tick(defs, landing, instance)
    sales = landing / "sales"
    names = (
        ".2026-01-05.csv.abc.tmp",
        "2026-01-05.csv.part",
        "notes.txt",
        "2026-02-30.csv",
        "2027-01-01.csv",
        "sales_2026-01-05.csv",
        "2026-01-05.CSV",
    )
    for name in names:
        (sales / name).write_text("order_id\n1\n")
    _age(*(sales / name for name in names))  # settled: ignored for their names, not their age
    (sales / "2026-01-06.csv.d").mkdir()
    assert _tick(defs, landing, instance, cursor=first.cursor).run_requests == []


def test_a_file_still_being_written_waits_for_a_later_tick(sensor_setup):
    defs, landing, instance = sensor_setup
    first = _tick(defs, landing, instance)
    path = landing / "sales" / "2026-01-07.csv"
    path.write_bytes(path.read_bytes())  # rewritten just now: modified within min_file_age_seconds
    second = _tick(defs, landing, instance, cursor=first.cursor)
    assert second.run_requests == [] and second.cursor == first.cursor
    _age(path)
    (request,) = _tick(defs, landing, instance, cursor=second.cursor).run_requests
    assert request.partition_key == "2026-01-07"
