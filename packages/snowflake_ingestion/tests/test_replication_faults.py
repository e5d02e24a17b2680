"""Faults during a Sling replication, each on the real part: the whole process tree (Python, Sling, the DuckDB
CLI Sling drives) killed with SIGKILL mid-stream, the source PostgreSQL stopped before and during a run, the
warehouse file locked by another process. After each, a re-run gives exactly the source's rows.

The module runs its own PostgreSQL (30,000 orders, a fixed port so a restart keeps the address) because its
tests stop, restart and grow it."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dataplat_core.resources import build_resources
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.postgres import SandboxPostgres
from dataplat_snowflake_ingestion.resources import SourceUnreachable
from dataplat_snowflake_ingestion.sling_workarounds.watchdog import descendants, processes
from replication_support import REPLICATION, TABLES, order_statuses, run_replication

TESTS = Path(__file__).parent
KEYS = {"customers": ("customer_id",), "orders": ("order_id",), "order_items": ("order_id", "line_no")}
CONFIG = SandboxConfig(seed=11, orders=30_000, days=14)
# Tests that do not kill mid-stream replicate two tables: faster, and the same code paths.
TWO_TABLES, TWO = REPLICATION.split("  shop.order_items:")[0], ("customers", "orders")

# The deployment's path in a process of its own: the component from YAML, the platform's resources.
CHILD = textwrap.dedent(
    """
    import json
    import sys
    sys.path.insert(0, sys.argv[1])
    from replication_support import run_replication

    sys.exit(0 if run_replication(attributes=json.loads(sys.argv[2])).success else 1)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def source_pg(server_tmp_path_factory):
    pg = SandboxPostgres(server_tmp_path_factory("faults-pg"), port=_free_port())
    pg.start()
    pg.load(CONFIG)
    yield pg
    pg.stop()


@pytest.fixture
def env(source_pg, tmp_path, monkeypatch):
    """The local platform's variables for this module's PostgreSQL and a fresh warehouse file."""
    values = {
        "PLATFORM_ENV": "local",
        "SOURCE_PG_HOST": source_pg.host,
        "SOURCE_PG_PORT": str(source_pg.port),
        "SOURCE_PG_DATABASE": source_pg.database,
        "SOURCE_PG_USER": source_pg.readonly_user,
        "SOURCE_PG_PASSWORD": source_pg.readonly_password,
        "LANDING_URL": str(tmp_path / "landing"),
        "PAYMENTS_API_URL": "http://127.0.0.1:9",  # unused here
        "PAYMENTS_API_TOKEN": "unused",
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "TMPDIR": str(tmp_path),  # what a killed run leaves behind stays in tmp_path
        # Sling keeps a state database (.sling.db) in its home folder, the platform's state folder: the
        # processes these tests kill use their own.
        "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    if not source_pg.is_running():  # a failed test must not take the source down for the next one
        source_pg.start()
    return values


# Runs that must succeed keep the platform's remedy for Sling 1.4.11's own faults under load (a stall with its
# DuckDB CLI, "Failed to write to stdout pipe"; both seen in loaded CI runs): the watchdog and a retry. Runs that
# inject a fault pass FIRST_ATTEMPT, so the fault shows in the first attempt (the retry policy has its tests).
RECOVERING = {"stall_timeout_seconds": 30, "step_retry": {"max_retries": 2, "delay_seconds": 1}}
FIRST_ATTEMPT = {"step_retry": {"max_retries": 0}}


def materialize(replication: str = REPLICATION, **attributes) -> dg.ExecuteInProcessResult:
    """One run of the component declared as a deployment would (defs.yaml + replication.yaml, the platform's
    resources). `attributes`: the component's other keys (default: RECOVERING)."""
    return run_replication(replication, {**RECOVERING, **attributes})


def _source_counts(pg, tables=TABLES) -> dict[str, int]:
    with pg.connect() as conn:
        return {t: conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in tables}


def _warehouse_counts(path, tables=TABLES) -> dict[str, int | None]:
    with duckdb.connect(str(path), read_only=True) as wh:
        present = {
            r[0]
            for r in wh.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw_shop'"
            ).fetchall()
        }
        return {t: wh.execute(f"select count(*) from raw_shop.{t}").fetchone()[0] if t in present else None for t in tables}  # fmt: skip


def _duplicate_keys(path, tables=TABLES) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as wh:
        return {
            t: wh.execute(
                f"select count(*) from (select {', '.join(k)} from raw_shop.{t} group by all having count(*) > 1)"
            ).fetchone()[0]
            for t, k in KEYS.items()
            if t in tables
        }


def _assert_exact(env, pg, tables=TABLES) -> None:
    assert _warehouse_counts(env["WAREHOUSE_DUCKDB_PATH"], tables) == _source_counts(pg, tables)
    assert _duplicate_keys(env["WAREHOUSE_DUCKDB_PATH"], tables) == {t: 0 for t in tables}


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The replication step's failure as the UI shows it first (its message, not the causes' tracebacks)."""
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.error.message


def _session(sid: int) -> dict[int, str]:
    return {p.pid: p.name for p in processes().values() if p.session == sid}


def _descendants(root: int) -> dict[int, str]:
    return {p.pid: p.name for p in descendants(root, processes())}


def _kill_mid_stream(tmp_path, stream: str) -> dict[int, str]:
    """Run the replication in its own session and SIGKILL the whole process group once Sling streams `stream`
    into the warehouse (its log says so and its DuckDB CLI is running). Returns the processes it killed."""
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(TESTS), json.dumps(RECOVERING)],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120  # room for one stalled attempt (RECOVERING) and its retry
        while True:
            assert child.poll() is None, f"the run ended before the kill:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"Sling never streamed {stream}:\n{log.read_text()[-3000:]}"
            text = log.read_text()
            _, started, after = text.partition(f"running stream {stream}\n")
            tree = _session(child.pid)
            if started and "streaming data" in after and "duckdb" in tree.values():
                break
            time.sleep(0.02)
    finally:  # also when the wait failed: a run left behind would write into the next tests
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _session(child.pid) and time.monotonic() < deadline:  # sling and duckdb die with the group
        time.sleep(0.05)
    assert _session(child.pid) == {}
    assert any(n.startswith("sling") for n in tree.values()) and "duckdb" in tree.values()
    return tree


def test_kill_9_mid_replication_then_rerun_is_exact(env, source_pg, tmp_path):
    _kill_mid_stream(tmp_path, "shop.order_items")
    source = _source_counts(source_pg)
    after_kill = _warehouse_counts(env["WAREHOUSE_DUCKDB_PATH"])  # DuckDB recovers the file on open
    # The streams before were committed; the one in flight was not, neither whole nor in part twice.
    assert after_kill["customers"] == source["customers"] and after_kill["orders"] == source["orders"]
    assert after_kill["order_items"] != source["order_items"]

    result = materialize()
    assert result.success
    _assert_exact(env, source_pg)
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_kill_9_mid_incremental_run_then_rerun_is_exact(env, source_pg, tmp_path):
    assert materialize().success
    before = _warehouse_counts(env["WAREHOUSE_DUCKDB_PATH"])
    inserted = source_pg.insert_orders(30_000)  # enough new rows for the kill to land mid-stream
    updated = source_pg.update_orders(500)
    _kill_mid_stream(tmp_path, "shop.order_items")
    after_kill = _warehouse_counts(env["WAREHOUSE_DUCKDB_PATH"])
    assert after_kill["orders"] == before["orders"] + len(inserted)  # committed before the kill
    assert after_kill["order_items"] < _source_counts(source_pg)["order_items"]  # in flight: not committed

    assert materialize().success
    _assert_exact(env, source_pg)
    source, loaded = order_statuses(source_pg, env["WAREHOUSE_DUCKDB_PATH"], updated)
    assert loaded == source  # the updates the killed run had already merged are neither lost nor doubled


def test_source_down_fails_naming_the_source_and_recovers_after_start(env, source_pg):
    address = f"{source_pg.host}:{source_pg.port}/{source_pg.database}"
    source_pg.stop()
    try:
        result = materialize(TWO_TABLES)  # RECOVERING: retries on, which a refused connection must not use
        assert not result.success
        assert [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY") == 0
        message = _failure_message(result)
        assert (
            f"source PostgreSQL at {address} unreachable (Sling connection SOURCE_PG): nothing listens there "
            "(connection refused), not retried. Check that the database is running"
        ) in message.splitlines()[0], message.splitlines()[0]
        assert "connection refused" in message and "\x1b[" not in message  # Sling's reason, without colors

        # The row-count check's resource fails just as clearly.
        source = build_resources()["source_postgres"].process_config_and_initialize()
        with pytest.raises(SourceUnreachable, match=f"source PostgreSQL at {address} unreachable"):
            source.row_count("shop.orders")
    finally:
        source_pg.start()
    assert source_pg.port == int(env["SOURCE_PG_PORT"])  # same address after the restart
    result = materialize(TWO_TABLES)
    assert result.success
    _assert_exact(env, source_pg, TWO)
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_wrong_source_password_fails_at_once_naming_the_user_and_the_settings(env, source_pg, monkeypatch):
    """The source answers and refuses the password: Sling's failure is explained (not 'unreachable'), the step
    is not retried (a retry is refused the same way), and nothing is loaded."""
    address = f"{source_pg.host}:{source_pg.port}/{source_pg.database}"
    monkeypatch.setenv("SOURCE_PG_PASSWORD", "not-the-password")
    result = materialize(TWO_TABLES)  # RECOVERING: retries on, which this failure must not use
    assert not result.success
    assert [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY") == 0
    message = _failure_message(result)
    first = message.splitlines()[0]
    assert f"source PostgreSQL at {address} refused the credentials of user {env['SOURCE_PG_USER']}" in first
    assert "SOURCE_PG_USER and SOURCE_PG_PASSWORD" in first and "not-the-password" not in message
    assert result.get_asset_materialization_events() == []


def test_source_stopped_mid_replication_fails_clearly_and_rerun_is_exact(env, source_pg):
    """PostgreSQL is stopped (fast shutdown: backends terminated) while Sling streams from it."""
    address = f"{source_pg.host}:{source_pg.port}/{source_pg.database}"
    stopped = threading.Event()

    def stop_when_streaming() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "duckdb" in _descendants(os.getpid()).values():  # Sling is writing the warehouse
                source_pg.stop()
                stopped.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=stop_when_streaming, daemon=True)
    watcher.start()
    try:
        result = materialize(TWO_TABLES, **FIRST_ATTEMPT)
    finally:
        watcher.join(timeout=60)
        was_stopped = stopped.is_set()
        source_pg.start()
    assert was_stopped, "PostgreSQL was never stopped: Sling did not start streaming"
    assert not result.success
    assert f"source PostgreSQL at {address} unreachable" in _failure_message(result).splitlines()[0]

    result = materialize(TWO_TABLES)
    assert result.success
    _assert_exact(env, source_pg, TWO)


def test_locked_warehouse_fails_naming_the_file_and_the_holder(env, source_pg, monkeypatch):
    """The replication waits for the lock like every warehouse writer (here 2 s), then fails naming the file and
    the holder, before Sling starts: Sling 1.4.11 could hang when its DuckDB CLI met the locked file."""
    monkeypatch.setenv("WAREHOUSE_LOCK_TIMEOUT_S", "2")
    path = env["WAREHOUSE_DUCKDB_PATH"]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(600)", path],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = materialize(TWO_TABLES, **FIRST_ATTEMPT)
        assert not result.success
        message = _failure_message(result)
        assert f"warehouse DuckDB file {path} is locked by process {holder.pid}" in message.splitlines()[0]
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert materialize(TWO_TABLES).success
    _assert_exact(env, source_pg, TWO)


def test_a_stalled_sling_is_killed_and_retried_as_transient(env, source_pg, tmp_path, monkeypatch):
    """Sling 1.4.11 can deadlock with its DuckDB CLI, both idle forever (seen under load). Here the real Sling
    drives a DuckDB CLI that never answers (`DUCKDB_PATH` is honoured before the platform's own): the watchdog
    kills Sling and the CLI after `stall_timeout_seconds` without CPU, the step is retried as transient (and
    stalls again here), and the failure says what happened. Then the real CLI loads exactly the source."""
    never_answers = tmp_path / "duckdb-never-answers"
    never_answers.write_text("#!/bin/sh\nexec sleep 600\n")
    never_answers.chmod(0o755)
    with monkeypatch.context() as patch:
        patch.setenv("DUCKDB_PATH", str(never_answers))
        result = materialize(
            TWO_TABLES, stall_timeout_seconds=4, step_retry={"max_retries": 1, "delay_seconds": 0}
        )
    assert not result.success
    assert [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.cause.message  # under Dagster's "Exceeded max_retries of 1"
    assert message.startswith("dagster._core.definitions.events.Failure: Sling timed out:"), message
    assert "used no CPU for" in message, message
    assert "sleep (pid" in message and "sling" in message  # the killed tree is named
    assert not [n for n in _descendants(os.getpid()).values() if n.startswith(("sling", "sleep"))]

    assert materialize(TWO_TABLES).success
    _assert_exact(env, source_pg, TWO)
