"""The warehouse resource waits for another process's lock on the DuckDB file, then fails clearly.

A real second process holds the lock (DuckDB's own file lock, not a simulation)."""

import subprocess
import sys
import textwrap
import time

import dagster as dg
import duckdb
import pytest
from dataplat_core.duckdb_warehouse import (
    LOCK_TIMEOUT_VAR,
    WarehouseDuckDB,
    WarehouseLocked,
    connect_waiting_for_lock,
    lock_timeout_from_env,
)
from dataplat_core.environment import LOCAL_SPEC
from dataplat_core.resources import build_resources

# Opens the file read-write (DuckDB takes the exclusive lock), says so, holds it for argv[2] seconds (or until
# killed), then prints the monotonic instant it released it.
HOLDER = textwrap.dedent(
    """
    import sys, time
    import duckdb
    conn = duckdb.connect(sys.argv[1])
    conn.execute("create table if not exists held (n int)")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.close()
    print(time.monotonic(), flush=True)
    """
)


@pytest.fixture
def hold_lock():
    holders = []

    def start(path, seconds: float) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        holders.append(proc)
        assert proc.stdout.readline().strip() == "locked", "holder never took the lock"
        return proc

    yield start
    for proc in holders:
        proc.kill()
        proc.wait(timeout=10)


def _writer(values: list[int]):
    @dg.asset
    def write_warehouse(warehouse: dg.ResourceParam[WarehouseDuckDB]) -> None:
        with warehouse.get_connection() as conn:
            conn.execute("create table if not exists written (n int)")
            conn.executemany("insert into written values (?)", [(v,) for v in values])

    return write_warehouse


def test_the_factory_builds_the_lock_waiting_resource(local_env, monkeypatch):
    warehouse = build_resources(LOCAL_SPEC)["warehouse"]
    assert isinstance(warehouse, WarehouseDuckDB)
    assert warehouse.effective_lock_timeout() == 30.0
    monkeypatch.setenv(LOCK_TIMEOUT_VAR, "4.5")
    assert warehouse.effective_lock_timeout() == 4.5
    assert WarehouseDuckDB(database=":memory:", lock_timeout_s=1).effective_lock_timeout() == 1


@pytest.mark.parametrize("raw", ["soon", "-1"])
def test_a_bad_timeout_names_the_variable(raw):
    with pytest.raises(ValueError, match=LOCK_TIMEOUT_VAR):
        lock_timeout_from_env({LOCK_TIMEOUT_VAR: raw})


def test_a_load_waits_for_a_holder_that_releases(local_env, monkeypatch, hold_lock):
    """The holder keeps the file for 2 s; the run's write starts while it is held and succeeds after."""
    path = local_env["WAREHOUSE_DUCKDB_PATH"]
    monkeypatch.setenv(LOCK_TIMEOUT_VAR, "30")
    resources = build_resources(LOCAL_SPEC)
    holder = hold_lock(path, 2.0)
    started = time.monotonic()
    with pytest.raises(duckdb.IOException, match=f"PID {holder.pid}"):  # really locked right now
        duckdb.connect(path)
    result = dg.materialize([_writer([1, 2, 3])], resources=resources)
    finished = time.monotonic()
    assert result.success
    released = float(holder.stdout.readline())
    assert holder.wait(timeout=10) == 0
    assert started < released < finished  # it waited for the release rather than failing or racing it
    assert finished - started < 20
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("select sum(n) from written").fetchone() == (6,)
        assert conn.execute("select count(*) from held").fetchone() == (0,)  # the holder's work is intact


def test_a_holder_that_never_releases_fails_clearly_within_the_timeout(local_env, monkeypatch, hold_lock):
    path = local_env["WAREHOUSE_DUCKDB_PATH"]
    monkeypatch.setenv(LOCK_TIMEOUT_VAR, "2")
    warehouse = build_resources(LOCAL_SPEC)["warehouse"]  # creates the file's folder
    holder = hold_lock(path, 600)
    started = time.monotonic()
    with pytest.raises(WarehouseLocked) as caught:
        with warehouse.get_connection():
            pass
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 6.0
    error = caught.value
    assert error.path == path and error.holder_pid == holder.pid and 2.0 <= error.waited_s <= elapsed
    message = str(error)
    assert f"warehouse DuckDB file {path} is locked by process {holder.pid}" in message
    assert "gave up after waiting 2." in message and LOCK_TIMEOUT_VAR in message

    # The same through a run: the step fails with that message, not DuckDB's bare IO error.
    result = dg.materialize([_writer([1])], resources=build_resources(LOCAL_SPEC), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.step_failure_data.error)
    assert "WarehouseLocked" in text and f"locked by process {holder.pid}" in text
    assert holder.poll() is None  # the holder was never disturbed


def test_other_errors_are_not_retried(tmp_path):
    folder = tmp_path / "not_a_file"
    folder.mkdir()
    started = time.monotonic()
    with pytest.raises(duckdb.Error) as caught:
        connect_waiting_for_lock(str(folder), timeout_s=30)
    assert not isinstance(caught.value, WarehouseLocked)
    assert time.monotonic() - started < 5
