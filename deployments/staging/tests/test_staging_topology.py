"""Staging on one machine, for real: each code location a gRPC code server in its own venv (installed from the
internal index), a Dagster instance on PostgreSQL, the webserver and the daemon. A run is launched through
the webserver's GraphQL API and must succeed; the daemon must be seen evaluating sensors and schedules.

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
import urllib.request
from pathlib import Path

import pytest
import yaml
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.sandbox import Sandbox

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


def _wait(what: str, probe, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class GraphQL:
    def __init__(self, url: str):
        self.url = url

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
def staging(server_tmp_path_factory, location_pythons):
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
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": pg.host,
            "DAGSTER_PG_PORT": str(pg.port),
            "DAGSTER_PG_USER": pg.admin_user,
            "DAGSTER_PG_PASSWORD": pg.admin_password,
            "DAGSTER_PG_DB": "dagster_staging",
        }
        workspace = yaml.safe_load((STAGING / "workspace.yaml").read_text())
        logs = tmp / "logs"
        logs.mkdir()

        def start(name: str, cmd: list[str]) -> None:
            out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            processes.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))

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
                _wait(f"code server {server['location_name']}", lambda s=server: _accepts(s["port"]), 120)
            (tmp / "workspace.yaml").write_text(yaml.safe_dump(workspace))
            port = _free_port()
            bin_dir = Path(sys.executable).parent  # the host venv's console scripts
            start("webserver", [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                                "-w", str(tmp / "workspace.yaml")])  # fmt: skip
            start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(tmp / "workspace.yaml")])
            graphql = GraphQL(f"http://127.0.0.1:{port}/graphql")
            _wait("the webserver", graphql.up, 120)
            yield graphql
        finally:
            for proc in processes:
                proc.terminate()
            for proc in processes:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for log in sorted(logs.glob("*.log")):  # shown by pytest when a test failed
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""

RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""

SENSOR = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status ticks(limit: 5) { status timestamp } } } } }"""

ASSET_METADATA = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  __typename ... on AssetNode { metadataEntries { label ... on TextMetadataEntry { text } } } } }"""

DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""


def test_both_code_locations_load_from_their_own_code_servers(staging):
    def loaded():
        entries = staging(LOCATIONS)["workspaceOrError"]["locationEntries"]
        return entries if all(e["loadStatus"] == "LOADED" for e in entries) else None

    entries = _wait("both code locations", loaded, 120)
    assert {e["name"] for e in entries} == {"ingestion", "analytics"}
    assert all(e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries), entries


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

    assert _wait(f"run {run_id}", finished, 300, interval=2) == "SUCCESS"


def test_the_daemon_evaluates_sensors_and_schedules(staging):
    selector = {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                "sensorName": FILES_SENSOR}  # fmt: skip

    def ticked():
        sensor = staging(SENSOR, {"selector": selector})["sensorOrError"]
        assert sensor["__typename"] == "Sensor", sensor
        return sensor["sensorState"]["ticks"] or None

    ticks = _wait("a sensor tick", ticked, 180, interval=3)
    assert ticks[0]["status"] in ("SUCCESS", "SKIPPED"), ticks

    def healthy():
        statuses = staging(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        by_type = {s["daemonType"]: s["healthy"] for s in statuses}
        return by_type if by_type.get("SCHEDULER") and by_type.get("SENSOR") else None

    assert _wait("healthy scheduler and sensor daemons", healthy, 120, interval=3)


def test_the_ui_shows_the_component_versions_each_location_runs(staging):
    for path, location in ((["raw_shop", "orders"], "ingestion"), (["marts", "daily_revenue"], "analytics")):
        node = staging(ASSET_METADATA, {"path": path})["assetNodeOrError"]
        assert node["__typename"] == "AssetNode", node
        entries = {e["label"]: e.get("text") for e in node["metadataEntries"]}
        assert f"dataplat-staging-{location} 0.1.0" in entries["dataplat/versions"], entries
        assert "dataplat-core 0.1.0" in entries["dataplat/versions"]
