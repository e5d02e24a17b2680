"""A partition load is one transaction: a process killed mid-load, or a failure between its statements,
leaves the partition as it was, and the re-run gives exact counts."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import closing

import duckdb
import pytest
from dataplat_sandbox.landing import atomic_write
from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
from dataplat_snowflake_ingestion.files.model import FileSpec
from dataplat_snowflake_ingestion.files.schema import validate_columns
from files_support import COLUMNS, SETTLED, TABLE

CHILD = textwrap.dedent(
    """
    import sys, time
    from contextlib import closing
    from pathlib import Path
    import duckdb
    from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
    from dataplat_snowflake_ingestion.files.model import FileSpec
    from dataplat_snowflake_ingestion.files.schema import validate_columns
    from dataplat_snowflake_ingestion.files.completeness import Completeness

    db, path, marker, columns, kill_at = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), eval(sys.argv[4]), sys.argv[5]
    spec = FileSpec("{table}", validate_columns(columns), ("order_id", "line_no"), completeness=Completeness(settle_seconds=0))

    def hang_after_insert(step):
        if step == kill_at:  # staged and not published, or deleted and re-inserted and not committed
            marker.write_text("ready")
            time.sleep(120)

    DuckDBFileLoader(spec, lambda: closing(duckdb.connect(db))).load("2026-01-02", path, hook=hang_after_insert)
    """
).format(table=TABLE)


def _loader(db):
    spec = FileSpec(TABLE, validate_columns(COLUMNS), ("order_id", "line_no"), completeness=SETTLED)
    return DuckDBFileLoader(spec, lambda: closing(duckdb.connect(str(db))))


def _counts(db) -> tuple[dict, int]:
    with duckdb.connect(str(db), read_only=True) as wh:
        counts = dict(wh.execute(f"select _file_date::VARCHAR, count(*) from {TABLE} group by 1").fetchall())
        rejects = wh.execute(f"select count(*) from {TABLE}_rejects").fetchone()[0]
    return counts, rejects


def _shrink(path, rows: int) -> None:
    atomic_write(path, "".join(path.read_text().splitlines(keepends=True)[: rows + 1]).encode())


@pytest.mark.parametrize("kill_at", ["staged", "inserted"])
def test_process_killed_mid_load_leaves_the_previous_partition_and_rerun_is_exact(
    landing_folder, tmp_path, kill_at
):
    db = tmp_path / "crash.duckdb"
    day1, day2 = landing_folder / "sales" / "2026-01-01.csv", landing_folder / "sales" / "2026-01-02.csv"
    loader = _loader(db)
    loader.load("2026-01-01", day1)
    first = loader.load("2026-01-02", day2)
    before = _counts(db)
    assert before[0]["2026-01-02"] == first.rows_loaded == 256
    _shrink(day2, 100)  # the re-export that the killed process was loading

    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(day2), str(marker), repr(COLUMNS), kill_at],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, f"child exited early with {child.returncode}"
            assert time.monotonic() < deadline, "child never reached the middle of the load"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert _counts(db) == before  # neither half a partition nor both versions
    rerun = _loader(db).load("2026-01-02", day2)
    assert rerun.rows_loaded == 100
    assert _counts(db) == ({"2026-01-01": before[0]["2026-01-01"], "2026-01-02": 100}, 0)


@pytest.mark.parametrize("step", ["staged", "deleted", "inserted", "rejects"])
def test_failure_between_statements_rolls_the_partition_back(landing_folder, tmp_path, step):
    db = tmp_path / "fail.duckdb"
    day2 = landing_folder / "sales" / "2026-01-02.csv"
    loader = _loader(db)
    loader.load("2026-01-02", day2)
    before = _counts(db)
    _shrink(day2, 10)

    def fail_at(name):
        if name == step:
            raise RuntimeError(f"injected failure after {name}")

    with pytest.raises(RuntimeError, match="injected failure"):
        loader.load("2026-01-02", day2, hook=fail_at)
    assert _counts(db) == before
    assert loader.load("2026-01-02", day2).rows_loaded == 10
    assert _counts(db)[0] == {"2026-01-02": 10}
