"""SIGKILL during a dlt load of a declared API (payments; the carrier's shipments too mid-extract), then a re-run in a fresh process: the warehouse holds exactly
the simulator's rows of the partition, for the merge resources (payments, refunds), the replace resource
(payment_methods) and the append resource (events), nothing lost and nothing twice. dlt's working folder of the
killed run is left in the platform's working root (never in the system temp folder) and the re-run removes it.

Each run is the deployment's path in a process of its own: the component from YAML, the platform's resources
(`build_resources()`), one daily partition, against the real simulator over HTTP and a DuckDB file in tmp_path.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from conftest import api_rows, attributes, expected_keys, loaded_keys
from dataplat_sandbox.payments_api import FaultConfig, PaymentsApiServer
from dataplat_sandbox.shipments_api import ShipmentsApiServer

TESTS = Path(__file__).parent
DAY = "2026-01-06"  # a day on which every resource of both APIs has rows

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    sys.path.insert(0, sys.argv[1])
    mode, marker, partition, page_size = sys.argv[2], Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    api = sys.argv[6]

    if mode == "pause-mid-load":
        # A pause point, not a fake: dlt's real load runs; once the merge of payments and the insert-only
        # merge of events are committed to DuckDB (other jobs and the load's completion record still pending),
        # the process says so and waits to be killed.
        from dlt.load.load import Load

        original, done = Load.complete_jobs, set()

        def complete_jobs(self, load_id, jobs, schema):
            remaining, finalized, error = original(self, load_id, jobs, schema)
            for job in finalized:
                if job.state() == "completed":
                    info = job.job_file_info()
                    done.add((info.table_name, info.file_format))
            if {("payments", "sql"), ("events", "sql")} <= done or (partition == "-" and ("events", "parquet") in done):
                # written whole, then renamed: the test waits for the marker to exist, then kills at once
                staged = marker.with_suffix(".partial")
                staged.write_text(json.dumps({"load_id": load_id, "completed": sorted(done)}))
                staged.replace(marker)
                time.sleep(600)
            return remaining, finalized, error

        Load.complete_jobs = complete_jobs

    import os

    import dagster as dg
    from conftest import attributes, component_defs
    from dataplat_api_sources.declaration import RestApiConnection
    from dataplat_core.resources import build_resources

    # DAGSTER_HOME set: the deployment's persistent instance; unset: execute_in_process's ephemeral one.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None

    load_only = dg.define_asset_job(
        "load", selection=dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.all_asset_checks()
    )
    # partition "-": unpartitioned, the cursor state stored in the warehouse drives the window
    window = {"initial_value": "2026-01-01"} if partition == "-" else {"partition_start": "2026-01-01"}
    # An API's connection is no platform resource: bound here, from its variables, as a deployment declares it
    # (a RestApiConnectionComponent).
    connections = {
        "payments": ("payments_api", RestApiConnection(base_url=dg.EnvVar("PAYMENTS_API_URL"), token=dg.EnvVar("PAYMENTS_API_TOKEN"))),
        "shipments": ("shipments_api", RestApiConnection(base_url=dg.EnvVar("SHIPMENTS_API_URL"), api_key=dg.EnvVar("SHIPMENTS_API_KEY"))),
    }
    resources = {**build_resources(), **dict([connections[api]])}
    with component_defs(attributes(api, page_size=page_size, **window)) as (_, defs):
        defs = dg.Definitions.merge(defs, dg.Definitions(resources=resources, jobs=[load_only]))
        result = defs.resolve_job_def("load").execute_in_process(
            partition_key=None if partition == "-" else partition, raise_on_error=False, instance=instance
        )
    sys.exit(0 if result.success else 1)
    """
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The local platform's variables: the warehouse in tmp_path, and the children's system temp folder
    (TMPDIR) under tmp_path too, so the tests see anything a run leaves there. The API's address is set per
    test; PostgreSQL is not used here."""
    (tmp_path / "tmp").mkdir()
    values = {
        "PLATFORM_ENV": "local",
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _start(api, monkeypatch):
    api.start()
    if isinstance(api, ShipmentsApiServer):
        monkeypatch.setenv("SHIPMENTS_API_URL", api.url)
        monkeypatch.setenv("SHIPMENTS_API_KEY", api.api_key)
    else:
        monkeypatch.setenv("PAYMENTS_API_URL", api.url)
        monkeypatch.setenv("PAYMENTS_API_TOKEN", api.token)
    return api


def _name(api) -> str:
    return "shipments" if isinstance(api, ShipmentsApiServer) else "payments"


def _run(
    tmp_path, mode: str, page_size: int, log_name: str, partition: str = DAY, api: str = "payments"
) -> subprocess.Popen:
    log = (tmp_path / log_name).open("w")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(TESTS), mode, str(tmp_path / "marker"), partition, str(page_size), api],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip


INSTANCES = ["ephemeral", "dagster_home"]


def _use_instance(kind: str, tmp_path, monkeypatch) -> Path:
    """Runs the children with an ephemeral instance or a persistent one (DAGSTER_HOME); returns where their
    dlt working folders go: beside the warehouse file, or in the instance's storage."""
    if kind == "ephemeral":
        return tmp_path / "dlt_working"  # beside warehouse.duckdb
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home / "storage" / "dlt_working"


def _dlt_leftovers_in_temp(env) -> list[Path]:
    """Anything of dlt's in the children's system temp folder: `dlt-*` folders, load files."""
    tmp = Path(env["TMPDIR"])
    return sorted({*tmp.rglob("dlt*"), *tmp.rglob("*.parquet"), *tmp.rglob("*.jsonl*")})


def _kill(child: subprocess.Popen) -> None:
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _wait_for(child: subprocess.Popen, condition, what: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.poll() is None, f"the run ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _expected(api) -> dict[str, set]:
    """The simulator's truth for the partition, read with a plain client."""
    return expected_keys(api, attributes(_name(api)), DAY)


def _loaded(path, api="payments") -> dict[str, list]:
    return loaded_keys(path, attributes(api))


def _rerun_is_exact(tmp_path, env, api) -> None:
    rerun = _run(tmp_path, "plain", 500, "rerun.log", api=_name(api))
    assert rerun.wait(timeout=180) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    loaded, expected = _loaded(env["WAREHOUSE_DUCKDB_PATH"], _name(api)), _expected(api)
    for table, keys in loaded.items():
        assert len(keys) == len(set(keys)), f"{table}: duplicated keys"  # nothing twice
        assert set(keys) == expected[table], table  # nothing lost, nothing from outside the window
    assert all(expected.values())


def test_kill_9_mid_load_after_merge_and_append_commits_then_rerun_is_exact(
    env, tmp_path, monkeypatch, sandbox_config
):
    api = _start(PaymentsApiServer(sandbox_config), monkeypatch)
    try:
        child = _run(tmp_path, "pause-mid-load", 500, "killed.log")
        marker = tmp_path / "marker"
        try:
            _wait_for(child, marker.exists, "the load committed payments and events", tmp_path / "killed.log")
        finally:
            _kill(child)
        paused = json.loads(marker.read_text())

        # The kill landed mid-load: rows of events and payments are in the warehouse, the load is not recorded.
        path = env["WAREHOUSE_DUCKDB_PATH"]
        before = _loaded(path)
        expected = _expected(api)
        assert set(before["events"]) == expected["events"] and set(before["payments"]) == expected["payments"]
        with duckdb.connect(path, read_only=True) as wh:
            loads = {r[0] for r in wh.execute("select load_id from payments_api._dlt_loads").fetchall()}
        assert paused["load_id"] not in loads

        _rerun_is_exact(tmp_path, env, api)
    finally:
        api.stop()


@pytest.mark.parametrize(
    ("api", "instance"),
    [("payments", "ephemeral"), ("payments", "dagster_home"), ("shipments", "dagster_home")],
)
def test_kill_9_mid_extract_then_rerun_is_exact(env, tmp_path, monkeypatch, sandbox_config, api, instance):
    """Killed while dlt is still paging through the API (slow pages, small page size): the simulator's own
    request counter says the run is under way. The killed run's dlt working folder stays in the working root
    (the instance's storage, or beside the warehouse for an ephemeral instance); the re-run removes it."""
    root = _use_instance(instance, tmp_path, monkeypatch)
    slow = FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=0.05)
    name, api = (
        api,
        _start(
            {"payments": PaymentsApiServer, "shipments": ShipmentsApiServer}[api](
                sandbox_config, faults=slow
            ),
            monkeypatch,
        ),
    )
    try:
        child = _run(tmp_path, "plain", 10, "killed.log", api=name)
        try:
            _wait_for(child, lambda: api.stats["total"] >= 10, "ten API requests", tmp_path / "killed.log")
        finally:
            _kill(child)
        # A request sent just before the kill can still be counted by a server thread afterwards (under load
        # the thread runs late): let those land, then no further request may arrive.
        time.sleep(0.5)
        served = api.stats["total"]
        time.sleep(0.5)
        assert api.stats["total"] == served  # the client died with the process group
        # Left behind (killed, not stopped), in the platform's working root, not in the system temp folder.
        assert _dlt_leftovers_in_temp(env) == []
        killed = [p for p in root.iterdir() if p.is_dir()]
        assert len(killed) == 1 and (root / f"{killed[0].name}.lock").exists(), sorted(root.iterdir())
        dataset = attributes(name)["dataset"]
        assert (killed[0] / f"{dataset}__{DAY.replace('-', '')}").is_dir()  # dlt's pipeline folder

        api.set_faults(FaultConfig())
        _rerun_is_exact(tmp_path, env, api)
        assert sorted(root.iterdir()) == []  # the re-run removed the killed run's folder, then its own
        assert "removed 1 dlt working folder(s)" in (tmp_path / "rerun.log").read_text()
        assert _dlt_leftovers_in_temp(env) == []
    finally:
        api.stop()


def test_kill_9_mid_unpartitioned_load_then_rerun_does_not_duplicate_events(
    env, tmp_path, monkeypatch, sandbox_config
):
    """Unpartitioned, the cursor lives in dlt's state, stored with the load: a run killed after the events
    rows committed but before the load was recorded leaves the old cursor, so the re-run reads those events
    again. Insert-only merge on event_id (source.py) skips them: no duplicates."""
    api = _start(PaymentsApiServer(sandbox_config), monkeypatch)
    try:
        first = _run(tmp_path, "plain", 500, "first.log", partition="-")
        assert first.wait(timeout=180) == 0, (tmp_path / "first.log").read_text()[-3000:]
        api.add_events(50)  # past the stored cursor: the next run appends them
        child = _run(tmp_path, "pause-mid-load", 500, "killed.log", partition="-")
        marker = tmp_path / "marker"
        try:
            _wait_for(child, marker.exists, "the events append committed", tmp_path / "killed.log")
        finally:
            _kill(child)
        rerun = _run(tmp_path, "plain", 500, "rerun.log", partition="-")
        assert rerun.wait(timeout=180) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
        events = _loaded(env["WAREHOUSE_DUCKDB_PATH"])["events"]
        assert sorted(events) == sorted(r["event_id"] for r in api_rows(api, "events"))
    finally:
        api.stop()


@pytest.mark.parametrize("instance", INSTANCES)
def test_successful_load_leaves_no_working_folder_and_nothing_in_the_system_temp_dir(
    env, tmp_path, monkeypatch, sandbox_config, instance
):
    root = _use_instance(instance, tmp_path, monkeypatch)
    api = _start(PaymentsApiServer(sandbox_config), monkeypatch)
    try:
        run = _run(tmp_path, "plain", 500, "run.log")
        assert run.wait(timeout=180) == 0, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        api.stop()
    log = (tmp_path / "run.log").read_text()
    assert f"in {root}/" in log  # the run's log names its working folder, under the root
    assert root.is_dir() and sorted(root.iterdir()) == []
    assert sorted(Path(env["TMPDIR"]).iterdir()) == []  # nothing at all in the system temp folder
