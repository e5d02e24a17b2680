"""Write, audit, publish: a bad delivery never replaces good data. Each case re-delivers a hostile file for a
day that was already loaded, through a real Dagster run on the sandbox's landing files and a DuckDB file, and
asserts that every published row (and reject) is exactly as it was, what the run says, and what quarantine
holds. The catalogue is docs/bad-inputs.md."""

import json
import re
import threading
import time

import dagster as dg
import pytest
from dataplat_core.testing import checks_by_name
from dataplat_sandbox.landing import atomic_write
from files_support import (
    TABLE,
    failure_message,
    file_defs,
    partition_counts,
    published,
    run_range,
    warehouse,
)

DAY = "2026-01-03"


def _path(landing, day=DAY):
    return landing / "sales" / f"{day}.csv"


def _lines(landing, day=DAY) -> list[str]:
    return _path(landing, day).read_text().splitlines(keepends=True)


def _redeliver(defs, instance, landing, env, payload: bytes, day=DAY):
    """Load `day` from its good file, re-deliver `payload` under the same name, run again. Returns the second
    run and the published state before it."""
    assert run_range(defs, day, None, instance).success
    before = published(env)
    atomic_write(_path(landing, day), payload)
    return run_range(defs, day, None, instance), before


def _quarantine(env) -> list[tuple]:
    with warehouse(env) as wh:
        return wh.execute(
            f"select line, error_type, reason, raw_line from {TABLE}_quarantine order by line nulls last"
        ).fetchall()


@pytest.mark.parametrize("cut", ["last_value", "half_file"])
def test_a_cut_file_is_refused_as_incomplete_and_the_day_keeps_its_rows(platform_env, landing_folder, cut):
    """The last line lost its final characters and its line end (3.99 would load as 3.); or only half of the
    file arrived (a manual run or a backfill, which no sensor age guards)."""
    good = _path(landing_folder).read_bytes()
    payload = good[:-3] if cut == "last_value" else good[: len(good) // 2]
    assert not payload.endswith(b"\n")
    with file_defs() as defs, dg.instance_for_test() as instance:
        result, before = _redeliver(defs, instance, landing_folder, platform_env, payload)
    assert not result.success
    assert f"{DAY}.csv: the last line has no line end" in failure_message(result)
    completeness = checks_by_name(result)["completeness"]
    assert not completeness.passed and completeness.severity == dg.AssetCheckSeverity.ERROR
    assert published(platform_env) == before
    assert not result.get_asset_materialization_events()


def test_under_a_marker_rule_a_cut_last_record_is_a_reject_never_a_value(platform_env, landing_folder):
    lines = _lines(landing_folder)
    cut = lines[-1].rstrip("\n")[:-3]  # e.g. ...,3.99 -> ...,3.
    atomic_write(_path(landing_folder), "".join([*lines[:-1], cut]).encode())
    (landing_folder / "sales" / f"{DAY}.csv.done").write_text("")
    with file_defs(completeness={"rule": "marker"}) as defs:
        result = run_range(defs, DAY)
    assert result.success, failure_message(result)
    assert partition_counts(platform_env) == {DAY: len(lines) - 2}  # the header and the cut record
    order_id, line_no = (int(v) for v in cut.split(",")[:2])
    with warehouse(platform_env) as wh:
        assert wh.execute(
            f"select count(*) from {TABLE} where order_id = ? and line_no = ?", [order_id, line_no]
        ).fetchone() == (0,)
        rejects = wh.execute(f"select line, error_type, reason, raw_line from {TABLE}_rejects").fetchall()
    assert len(rejects) == 1
    line, kind, reason, raw = rejects[0]
    assert line == len(lines) and raw == cut and "no line end" in reason, rejects[0]


@pytest.mark.parametrize("defect", ["unparseable_amounts", "wrong_encoding"])
def test_a_bad_redelivery_leaves_every_published_row_unchanged(platform_env, landing_folder, defect):
    lines = _lines(landing_folder)
    if defect == "unparseable_amounts":
        bad = [line.rsplit(",", 1)[0] + ",n/a\n" if i % 7 == 0 else line for i, line in enumerate(lines[1:])]
        payload = "".join([lines[0], *bad]).encode()
    else:
        payload = "".join(lines).encode("utf-16")
    with file_defs() as defs, dg.instance_for_test() as instance:
        result, before = _redeliver(defs, instance, landing_folder, platform_env, payload)
    assert not result.success
    message = failure_message(result)
    assert published(platform_env) == before
    if defect == "wrong_encoding":
        assert f"{DAY}.csv: not a CSV text file" in message, message
        return
    rejected = len(range(0, len(lines) - 1, 7))
    share = f"{rejected} of {len(lines) - 1} ({rejected / (len(lines) - 1):.2%})"
    assert f"{DAY}.csv: not published" in message and f"reject_rate: {share} data lines rejected" in message
    assert "refused above 5.00%" in message and "raw_files.sales_quarantine" in message
    quarantined = _quarantine(platform_env)
    assert [q[0] for q in quarantined] == list(range(2, len(lines) + 1))  # every data line, named
    assert sum(q[1] == "CAST" for q in quarantined) == rejected
    assert all("reject_rate" in q[2] for q in quarantined if q[1] == "REFUSED")


@pytest.mark.parametrize("source_day", ["2026-01-09", "2026-01-04"])
def test_another_days_file_under_this_days_name_is_refused(platform_env, landing_folder, source_day):
    """A later day saved under this day's name; the next day's file copied under this day's name."""
    payload = _path(landing_folder, source_day).read_bytes()
    with file_defs() as defs, dg.instance_for_test() as instance:
        result, before = _redeliver(defs, instance, landing_folder, platform_env, payload)
    assert not result.success
    rows = len(payload.splitlines()) - 1
    assert f"partition_dates: {rows} of {rows} (100.00%) rows have order_ts outside {DAY}" in failure_message(
        result
    )
    dates = checks_by_name(result)["partition_dates"]
    assert not dates.passed and dates.metadata["rows_outside"].value == rows
    assert published(platform_env) == before


def test_a_few_rows_of_another_day_are_rejects_with_their_reason(platform_env, landing_folder):
    lines, other = _lines(landing_folder), _lines(landing_folder, "2026-01-04")[1:3]
    atomic_write(_path(landing_folder), "".join([*lines, *other]).encode())
    with file_defs(reject_rate={"warn": 0.01, "fail": 0.2}) as defs:
        result = run_range(defs, DAY)
    assert result.success, failure_message(result)
    assert partition_counts(platform_env) == {DAY: len(lines) - 1}
    with warehouse(platform_env) as wh:
        rejects = wh.execute(
            f"select line, column_name, error_type, reason, raw_line from {TABLE}_rejects"
        ).fetchall()
    assert sorted(r[0] for r in rejects) == [len(lines) + 1, len(lines) + 2]
    assert {r[2] for r in rejects} == {"OUTSIDE PARTITION"} and all(
        f"not in partition {DAY}" in r[3] for r in rejects
    )
    assert sorted(r[4].split(",")[0] for r in rejects) == sorted(o.split(",")[0] for o in other)
    dates = checks_by_name(result)["partition_dates"]
    assert not dates.passed and dates.severity == dg.AssetCheckSeverity.WARN


def test_a_file_still_being_written_is_waited_for_and_loaded_whole(platform_env, landing_folder):
    """The stable rule on a manual run: the loader waits until the file has not changed for settle_seconds."""
    lines = _lines(landing_folder)
    path = _path(landing_folder)
    path.write_text(lines[0] + "".join(lines[1:10]))
    done = threading.Event()

    def writer():  # the rest in chunks, each ending mid-line until the last
        text = "".join(lines[10:])
        with path.open("a") as fh:
            for start in range(0, len(text), 2000):
                fh.write(text[start : start + 2000])
                fh.flush()
                time.sleep(0.2)
        done.set()

    thread = threading.Thread(target=writer)
    with file_defs(completeness={"rule": "stable", "settle_seconds": 3, "max_wait_seconds": 120}) as defs:
        thread.start()
        try:
            result = run_range(defs, DAY)
        finally:
            thread.join()
    assert done.is_set() and result.success, failure_message(result)
    assert partition_counts(platform_env) == {DAY: len(lines) - 1}


def test_a_file_changed_within_the_settle_time_is_refused_when_the_wait_is_over(platform_env, landing_folder):
    with file_defs() as defs:
        assert run_range(defs, DAY).success
    before = published(platform_env)
    _path(landing_folder).touch()  # changed just now: not settled for the next 600 s
    with file_defs(completeness={"rule": "stable", "settle_seconds": 600, "max_wait_seconds": 0}) as defs:
        result = run_range(defs, DAY)
    assert not result.success
    assert f"{DAY}.csv: still being written" in failure_message(result)
    assert published(platform_env) == before


def test_marker_rule_waits_for_the_marker_on_every_path(platform_env, landing_folder):
    marker = landing_folder / "sales" / f"{DAY}.csv.done"
    with file_defs(completeness={"rule": "marker"}) as defs, dg.instance_for_test() as instance:
        result = run_range(defs, DAY, None, instance)
        assert not result.success and f"no marker {DAY}.csv.done yet" in failure_message(result)
        marker.write_text("")
        assert run_range(defs, DAY, None, instance).success
        assert partition_counts(platform_env) == {DAY: len(_lines(landing_folder)) - 1}
        # Rewritten after its marker: the marker speaks for an older file.
        before = published(platform_env)
        time.sleep(0.01)
        atomic_write(_path(landing_folder), _path(landing_folder).read_bytes()[:500])
        result = run_range(defs, DAY, None, instance)
        assert not result.success and "changed after its marker" in failure_message(result)
        assert published(platform_env) == before


def test_the_sensor_skips_files_whose_marker_has_not_arrived(platform_env, landing_folder):
    from dataplat_snowflake_ingestion.files.completeness import Completeness
    from dataplat_snowflake_ingestion.files.sensor import FilePattern, scan_folder

    with file_defs() as defs:
        partitions = defs.resolve_assets_def(dg.AssetKey(["raw_files", "sales"])).partitions_def
    (landing_folder / "sales" / f"{DAY}.csv.done").write_text("")
    requests, cursor, skipped = scan_folder(
        landing_folder / "sales",
        FilePattern("{date}.csv"),
        partitions,
        {},
        min_age_seconds=0,
        completeness=Completeness(rule="marker"),
    )
    assert [r.partition_key for r in requests] == [DAY]
    assert "2026-01-01.csv: waiting for its marker 2026-01-01.csv.done" in skipped
    assert list(cursor) == [f"{DAY}.csv"]  # the others are looked at again on the next tick


@pytest.mark.parametrize(
    ("manifest", "outcome"),
    [
        (lambda p, rows: {"bytes": p.stat().st_size, "rows": rows}, None),
        (lambda p, rows: {"bytes": p.stat().st_size + 1}, "bytes, its manifest"),
        (lambda p, rows: {"bytes": p.stat().st_size, "sha256": "0" * 64}, "differs from the sha256"),
        (lambda p, rows: {"bytes": p.stat().st_size, "rows": rows + 1}, "completeness: the manifest states"),
    ],
    ids=["matches", "bytes", "sha256", "rows"],
)
def test_manifest_rule_checks_every_stated_value(platform_env, landing_folder, manifest, outcome):
    path, rows = _path(landing_folder), len(_lines(landing_folder)) - 1
    (landing_folder / "sales" / f"{DAY}.csv.manifest.json").write_text(json.dumps(manifest(path, rows)))
    with file_defs(completeness={"rule": "manifest"}) as defs:
        result = run_range(defs, DAY)
    if outcome is None:
        assert result.success and partition_counts(platform_env) == {DAY: rows}
        return
    assert not result.success and outcome in failure_message(result), failure_message(result)
    assert not result.get_asset_materialization_events()
    assert not checks_by_name(result)["completeness"].passed


def test_an_upper_case_header_matches_the_declared_columns(platform_env, landing_folder):
    lines = _lines(landing_folder)
    atomic_write(_path(landing_folder), "".join([lines[0].upper(), *lines[1:]]).encode())
    with file_defs() as defs:
        assert run_range(defs, DAY).success
    assert partition_counts(platform_env) == {DAY: len(lines) - 1}
    with file_defs(case_sensitive_header=True) as defs:
        result = run_range(defs, DAY)
    assert not result.success
    message = failure_message(result)
    assert "primary key column(s) order_id, line_no missing from the file" in message
    unexpected = re.search(r"new column\(s\) ([A-Z_, ]+);", message)[1].split(", ")
    missing = re.search(r"missing column\(s\) ([a-z_, ]+)", message)[1].split(", ")
    assert sorted(unexpected) == sorted(c.upper() for c in missing) and "order_id" in missing, message


def test_drift_messages_list_the_missing_and_the_unexpected_columns(platform_env, landing_folder):
    lines = _lines(landing_folder)
    atomic_write(
        _path(landing_folder), "".join([lines[0].replace("line_no", "line_no_v2"), *lines[1:]]).encode()
    )
    with file_defs() as defs:
        result = run_range(defs, DAY)
    assert not result.success
    message = failure_message(result)
    assert "primary key column(s) line_no missing from the file" in message
    assert "new column(s) line_no_v2" in message and "missing column(s) line_no" in message, message


def test_checks_report_the_audits_the_loader_decided_on(platform_env, landing_folder):
    """One computation: a published backfill's checks carry each partition's audit figures."""
    with file_defs() as defs:
        result = run_range(defs, "2026-01-01", DAY)
    assert result.success
    evaluations = checks_by_name(result)
    expected = sum(len(_lines(landing_folder, f"2026-01-0{i}")) - 1 for i in (1, 2, 3))
    assert evaluations["file_row_count"].metadata["file_data_lines"].value == expected
    assert evaluations["reject_rate"].metadata["partitions_audited"].value == 3
    assert all(e.passed for e in evaluations.values())
    audits = [e.materialization.metadata["audits"].value for e in result.get_asset_materialization_events()]
    assert len(audits) == 3 and all(
        "primary_key_unique=pass" in a and "partition_dates=pass" in a for a in audits
    )
