"""Staging on one machine, for real: each code location a gRPC code server in its own venv (installed from the
internal index), a Dagster instance on PostgreSQL, the webserver and the daemon. Under the daemon: the file
sensor starts one run per landing file and none for an identical re-delivery; a run and a partition-range
backfill launched through the webserver's GraphQL API complete (the backfill exactly its partitions); a
failed run is posted once to a real webhook by the alert sensor. Every wait ends on a terminal state.

Run by `nox -s release` in a host venv (webserver, daemon, dagster-postgres, the sandbox) that it installs
from the index; DATAPLAT_STAGING_PYTHONS names each location venv's interpreter:
`ingestion=/path/bin/python,analytics=/path/bin/python`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.landing import atomic_write
from dataplat_sandbox.processes import stop_groups, wait_until
from dataplat_sandbox.sandbox import Sandbox
from dataplat_sandbox.webhook import WebhookReceiver

STAGING = Path(__file__).resolve().parents[1]
FILES_SENSOR = "raw_files__sales_files"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class GraphQL:
    def __init__(self, url: str, logs: Path):
        self.url, self.logs = url, logs

    def log_tails(self, chars: int = 4000) -> str:
        """The end of every process's log (a failed wait names what the processes were doing)."""
        return "\n".join(f"--- {p.name}\n{p.read_text()[-chars:]}" for p in sorted(self.logs.glob("*.log")))

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def up(self) -> bool:
        try:
            self("{ version }")
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def location_pythons() -> dict[str, str]:
    raw = os.environ.get("DATAPLAT_STAGING_PYTHONS", "")
    pythons = dict(item.split("=", 1) for item in raw.split(",") if "=" in item)
    assert set(pythons) == {"ingestion", "analytics"}, (
        "DATAPLAT_STAGING_PYTHONS must name both location venvs"
    )
    return pythons


@pytest.fixture(scope="module")
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver.url, receiver.posted


@pytest.fixture(scope="module")
def staging(server_tmp_path_factory, location_pythons, webhook):
    """The whole staging topology; yields the GraphQL client. Every process is stopped afterwards."""
    tmp = server_tmp_path_factory("staging")
    processes: list[subprocess.Popen] = []
    with Sandbox(tmp / "sandbox", SandboxConfig(orders=2_000, days=14)) as sandbox:
        pg = sandbox.postgres
        with pg.connect(autocommit=True) as conn:
            conn.execute("create database dagster_staging")
        home = tmp / "dagster_home"
        home.mkdir()
        shutil.copy(STAGING / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            **sandbox.env(),
            "PLATFORM_ENV": "staging",
            "WAREHOUSE_DUCKDB_PATH": str(tmp / "warehouse" / "warehouse.duckdb"),
            "DATAPLAT_STATE_DIR": str(tmp / "state"),
            "ARTIFACTS_URL": str(tmp / "artifacts"),
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": pg.host,
            "DAGSTER_PG_PORT": str(pg.port),
            "DAGSTER_PG_USER": pg.admin_user,
            "DAGSTER_PG_PASSWORD": pg.admin_password,
            "DAGSTER_PG_DB": "dagster_staging",
            "ALERT_WEBHOOK_URL": webhook[0],  # the alert sensors run when it is set where the locations load
        }
        workspace = yaml.safe_load((STAGING / "workspace.yaml").read_text())
        logs = tmp / "logs"
        logs.mkdir()

        def start(name: str, cmd: list[str]) -> None:
            out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            # Its own process group: the code server's `dagster api grpc` child and the run workers it
            # starts are stopped with it (a terminated code server left its child running as an orphan).
            processes.append(
                subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )

        try:
            for entry in workspace["load_from"]:
                server = entry["grpc_server"]
                server["port"] = _free_port()  # the file's ports, moved to free ones for the test
                name = server["location_name"]
                python = location_pythons[name]
                start(f"code-server-{name}", [
                    python, "-m", "dagster", "code-server", "start", "-h", "127.0.0.1", "-p",
                    str(server["port"]), "-m", f"dataplat_staging_{name}.definitions", "--location-name", name,
                ])  # fmt: skip
            # The webserver would record a code server that still refuses connections as a load error.
            for entry in workspace["load_from"]:
                server = entry["grpc_server"]
                wait_until(
                    f"code server {server['location_name']}", lambda s=server: _accepts(s["port"]), 120
                )
            (tmp / "workspace.yaml").write_text(yaml.safe_dump(workspace))
            port = _free_port()
            bin_dir = Path(sys.executable).parent  # the host venv's console scripts
            start("webserver", [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                                "-w", str(tmp / "workspace.yaml")])  # fmt: skip
            graphql = GraphQL(f"http://127.0.0.1:{port}/graphql", logs)
            graphql.landing, graphql.alerts = sandbox.landing_dir, webhook[1]
            wait_until("the webserver", graphql.up, 120)
            # Only now the daemon: the webserver has created the instance's storage (two processes creating a
            # fresh storage at once race on its schema; seen with SQLite on a loaded machine).
            start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(tmp / "workspace.yaml")])
            yield graphql
        finally:
            stop_groups(processes)
            for log in sorted(logs.glob("*.log")):  # shown by pytest when a test failed
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""

RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""

RUN_EVENTS = """query($id: ID!) { logsForRun(runId: $id, limit: 60) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message stepKey } } } } }"""

RUNS = """{ runsOrError(limit: 40) { ... on Runs { results { runId status tags { key value } } } } }"""


def describe_run(graphql: GraphQL, run_id: str) -> str:
    """What a run that did not finish was doing: its events, every run's status, the processes' logs."""
    events = graphql(RUN_EVENTS, {"id": run_id})["logsForRun"].get("events", [])
    runs = graphql(RUNS)["runsOrError"]["results"]
    lines = [f"{e['__typename']} {e.get('stepKey') or ''}: {e.get('message', '')[:300]}" for e in events]
    statuses = [f"{r['runId'][:8]} {r['status']}" for r in runs]
    return "\n".join(["events:", *lines, "runs:", *statuses, graphql.log_tails()])


SENSOR = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status ticks(limit: 5) { status timestamp } } } } }"""

ASSET_METADATA = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  __typename ... on AssetNode { metadataEntries { label ... on TextMetadataEntry { text } } } } }"""

DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""


def test_both_code_locations_load_from_their_own_code_servers(staging):
    def loaded():
        entries = staging(LOCATIONS)["workspaceOrError"]["locationEntries"]
        return entries if all(e["loadStatus"] == "LOADED" for e in entries) else None

    entries = wait_until("both code locations", loaded, 120)
    assert {e["name"] for e in entries} == {"ingestion", "analytics"}
    assert all(e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries), entries


SENSOR_RUNS = """query($value: String!) { runsOrError(filter: {tags: [{key: "dagster/sensor_name",
  value: $value}]}) { ... on Runs { results { runId status tags { key value } } } } }"""

TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")


def _sensor_runs(staging) -> list[dict]:
    return staging(SENSOR_RUNS, {"value": FILES_SENSOR})["runsOrError"]["results"]


def _finished_ticks(staging, selector: dict) -> list[dict]:
    sensor = staging(SENSOR, {"selector": selector})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    # A tick is STARTED while the daemon evaluates it: only a finished one says how it went.
    return [t for t in sensor["sensorState"]["ticks"] if t["status"] != "STARTED"]


def test_the_daemons_sensor_starts_one_run_per_new_file_and_none_for_an_identical_redelivery(staging):
    """Runs first: the sensor's runs load the landing files before the other tests launch theirs."""
    selector = {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                "sensorName": FILES_SENSOR}  # fmt: skip
    files = sorted(p.name for p in (staging.landing / "sales").glob("*.csv"))

    def all_finished():
        runs = _sensor_runs(staging)
        return runs if len(runs) >= len(files) and all(r["status"] in TERMINAL for r in runs) else None

    runs = wait_until(f"the sensor's runs for {len(files)} files to finish", all_finished, 900, interval=5)
    partitions = sorted(next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition") for r in runs)
    assert partitions == [name.removesuffix(".csv") for name in files]  # one run per file, each its day
    assert all(r["status"] == "SUCCESS" for r in runs), describe_run(staging, runs[0]["runId"])

    # The same bytes delivered again (a new mtime, settled past the sensor's minimum age): no run.
    path = staging.landing / "sales" / files[0]
    atomic_write(path, path.read_bytes())
    past = time.time() - 120
    os.utime(path, (past, past))
    redelivered_at = time.time()

    def tick_after_redelivery():
        return [t for t in _finished_ticks(staging, selector) if t["timestamp"] > redelivered_at] or None

    ticks = wait_until("a finished sensor tick after the re-delivery", tick_after_redelivery, 300, interval=3)
    assert ticks[0]["status"] in ("SUCCESS", "SKIPPED"), ticks
    assert len(_sensor_runs(staging)) == len(files)

    def healthy():
        statuses = staging(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        by_type = {s["daemonType"]: s["healthy"] for s in statuses}
        return by_type if by_type.get("SCHEDULER") and by_type.get("SENSOR") else None

    assert wait_until("healthy scheduler and sensor daemons", healthy, 120, interval=3)


def test_a_run_launched_through_graphql_succeeds(staging):
    params = {
        "selector": {
            "repositoryLocationName": "ingestion",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw_shop", t]} for t in ("customers", "products", "orders")],
        },
        "runConfigData": {},
    }
    launched = staging(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = staging(RUN, {"id": run_id})["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    try:
        status = wait_until(f"run {run_id}", finished, 600, interval=2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe_run(staging, run_id)}") from None
    assert status == "SUCCESS", describe_run(staging, run_id)


ASSET_RUNS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  __typename ... on Asset { assetMaterializations(limit: 20) { runId } } } }"""

AUTOMATION = {"repositoryLocationName": "analytics", "repositoryName": "__repository__",
              "sensorName": "dataplat_automation"}  # fmt: skip
SHOP_ORDERS = [{"path": ["raw_shop", "orders"]}]


def _materialized_by(staging, path: list[str]) -> list[str]:
    asset = staging(ASSET_RUNS, {"path": path})["assetOrError"]
    return [m["runId"] for m in asset["assetMaterializations"]] if asset["__typename"] == "Asset" else []


def _launch_and_wait(staging, selection: list[dict]) -> str:
    params = {"selector": {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                           "jobName": "__ASSET_JOB", "assetSelection": selection}, "runConfigData": {}}  # fmt: skip
    launched = staging(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_until(f"run {run_id}", lambda: _terminal(staging, run_id), 600, interval=2)
    assert status == "SUCCESS", describe_run(staging, run_id)
    return run_id


def _terminal(staging, run_id: str) -> str | None:
    status = staging(RUN, {"id": run_id})["runOrError"]["status"]
    return status if status in TERMINAL else None


def test_analytics_automation_fires_once_after_ingestion_in_the_other_location_and_not_for_no_change(staging):
    """marts/daily_revenue (analytics) declares `upstream_changed()` on raw_shop/orders (ingestion). The
    daemon's `dataplat_automation` sensor runs it once after orders are loaded (the run launched above
    through GraphQL), and not again after a load of orders that moved nothing (same data version)."""
    mart = ["marts", "daily_revenue"]
    if not _materialized_by(staging, ["raw_shop", "orders"]):  # this test alone: load orders first
        _launch_and_wait(staging, SHOP_ORDERS)
    runs = wait_until(
        "the automation sensor's run of marts/daily_revenue", lambda: _materialized_by(staging, mart), 600, 5
    )
    assert len(runs) == 1, runs
    tags = {t["key"]: t["value"] for r in staging(RUNS)["runsOrError"]["results"] if r["runId"] == runs[0]
            for t in r["tags"]}  # fmt: skip
    assert tags.get("dagster/sensor_name") == "dataplat_automation", tags
    assert tags.get("dagster/from_automation_condition") == "true", tags
    assert wait_until(f"automation run {runs[0]}", lambda: _terminal(staging, runs[0]), 600, 2) == "SUCCESS"

    _launch_and_wait(staging, SHOP_ORDERS)  # nothing new in the source: Sling is spared, same data version
    loaded_at = time.time()

    def two_ticks_later():
        later = [t for t in _finished_ticks(staging, AUTOMATION) if t["timestamp"] > loaded_at]
        return later if len(later) >= 2 else None

    wait_until("two finished automation ticks after the no-change load", two_ticks_later, 600, interval=5)
    assert _materialized_by(staging, mart) == runs


def _pins(location: str) -> dict[str, str]:
    """What the staging deployment pins (`name==version` in its pyproject), and its own version."""
    meta = tomllib.loads((Path(__file__).parents[1] / location / "pyproject.toml").read_text())
    pins = {meta["project"]["name"]: meta["project"]["version"]}
    for requirement in meta["project"]["dependencies"]:
        name, pinned, version = requirement.partition("==")
        if pinned:
            pins[name.split("[")[0].strip()] = version.strip()
    return pins


def test_the_ui_shows_the_component_versions_each_location_runs(staging):
    for path, location in ((["raw_shop", "orders"], "ingestion"), (["marts", "daily_revenue"], "analytics")):
        node = staging(ASSET_METADATA, {"path": path})["assetNodeOrError"]
        assert node["__typename"] == "AssetNode", node
        entries = {e["label"]: e.get("text") for e in node["metadataEntries"]}
        pins = _pins(location)
        assert f"dataplat-staging-{location}" in pins and "dataplat-core" in pins, pins
        for name, version in pins.items():
            if name.startswith("dataplat-"):  # what the location runs is what its deployment pins
                assert f"{name} {version}" in entries["dataplat/versions"], (name, entries)


BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on InvalidSubsetError { message } } }"""

BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on PythonError { message } } }"""

TAGGED_RUNS = """query($key: String!, $value: String!) { runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
  ... on Runs { results { runId status assetMaterializations { partition assetKey { path } } } } } }"""

BACKFILL_DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


def test_a_partition_range_backfill_launched_through_graphql_completes_exactly_those_partitions(staging):
    days = ["2026-01-03", "2026-01-04", "2026-01-05"]
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": ["raw_files", "sales"]}],
        # The sensor loaded these files already: a backfill asks for a reload, or it would skip them.
        "tags": [{"key": "dataplat/reload", "value": "true"}],
    }
    launched = staging(BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def done():
        backfill = staging(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        return backfill["status"] if backfill["status"] in BACKFILL_DONE else None

    status = wait_until(f"backfill {backfill_id}", done, 600, interval=3)
    runs = staging(TAGGED_RUNS, {"key": "dagster/backfill", "value": backfill_id})["runsOrError"]["results"]
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (
        describe_run(staging, runs[0]["runId"]) if runs else status
    )
    assert len(runs) == 1 and runs[0]["status"] == "SUCCESS", runs  # single-run backfill policy
    loaded = sorted(
        m["partition"]
        for m in runs[0]["assetMaterializations"]
        if m["assetKey"]["path"] == ["raw_files", "sales"]
    )
    assert loaded == days


ALERT_TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 10) { status timestamp } } } } }"""


def test_after_a_failed_run_the_daemons_alert_sensor_posts_once_to_the_webhook(staging):
    # A day inside the partitions whose file was never delivered: the run fails naming the missing file.
    params = {
        "selector": {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                     "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["raw_files", "sales"]}]},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2026-03-01"}]},
        "runConfigData": {},
    }  # fmt: skip
    launched = staging(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = staging(RUN, {"id": run_id})["runOrError"]["status"]
        return status if status in TERMINAL else None

    assert wait_until(f"run {run_id}", finished, 600, interval=2) == "FAILURE"

    def about_the_run():
        return [a for a in staging.alerts if run_id[:8] in a["text"]] or None

    (alert,) = wait_until("the run-failure alert", about_the_run, 300, interval=2)
    assert "2026-03-01.csv" in alert["text"] and "failed" in alert["text"], alert
    # Two more finished ticks of the sensor after the alert: it posts about a failed run once.
    selector = {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                "sensorName": "alert_on_run_failure"}  # fmt: skip
    posted_at = time.time()

    def two_more_ticks():
        ticks = staging(ALERT_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
        later = [t for t in ticks if t["status"] != "STARTED" and t["timestamp"] > posted_at]
        return len(later) >= 2 or None

    wait_until("two more ticks of the run-failure sensor", two_more_ticks, 300, interval=3)
    assert len(about_the_run()) == 1
