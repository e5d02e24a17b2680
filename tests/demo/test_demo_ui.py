"""`scripts/demo.py --ui` after the demo: the daemon's file sensor starts no run for the files the demo loaded,
and Ctrl-C (SIGINT) stops every process the demo started within 15 s, leaving no run queued or in flight.

Run by `nox -s demo` after its two demo runs, on their state (DATAPLAT_DEMO_STATE): the real sandbox, the real
`dg dev` (webserver, daemon, one code server per location) on a free port.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools import leftovers  # noqa: E402

FILES_SENSOR = "raw_files__sales_files"
MARKER = "DATAPLAT_DEMO_UI_RUN"  # on every process this test starts (the suite's own marker stays too)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict | None:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]
    except OSError:
        return None


def _wait(what: str, probe, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}\n{log.read_text()[-4000:]}"
            )
        time.sleep(2)
    return result


SENSOR_TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 5) { status runIds skipReason } } } } }"""

LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


@pytest.fixture
def state() -> Path:
    path = os.environ.get("DATAPLAT_DEMO_STATE")
    if not path:
        pytest.skip("run by `nox -s demo` after the demo, with DATAPLAT_DEMO_STATE")
    return Path(path).resolve()


def _run_statuses(state: Path) -> dict[str, str]:
    os.environ["DAGSTER_HOME"] = str(state / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        return {run.run_id: run.status.value for run in instance.get_runs()}


def test_ui_after_the_demo_starts_no_run_and_ctrl_c_stops_everything(state, tmp_path):
    port, token = _free_port(), leftovers.new_token()
    log = tmp_path / "demo-ui.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--state-dir", str(state), "--orders", "5000",
             "--days", "30", "--ui", "--port", str(port)],
            cwd=ROOT, env={**os.environ, MARKER: token}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # as a terminal runs it: Ctrl-C goes to this group
        )  # fmt: skip
    try:

        def loaded():
            data = _graphql(port, LOCATIONS)
            entries = data["workspaceOrError"]["locationEntries"] if data else []
            return len(entries) == 2 and all(e["loadStatus"] == "LOADED" for e in entries)

        _wait("the demo's UI with both code locations", loaded, 600, log)
        before = _run_statuses(state)  # the demo's own runs (its materializations) are done by now
        selector = {"repositoryLocationName": "ingestion", "repositoryName": "__repository__",
                    "sensorName": FILES_SENSOR}  # fmt: skip

        def finished_tick():
            data = _graphql(port, SENSOR_TICKS, {"selector": selector})
            ticks = (data or {}).get("sensorOrError", {}).get("sensorState", {}).get("ticks", [])
            return [t for t in ticks if t["status"] != "STARTED"]

        # The daemon evaluates the sensor against the landing files the demo loaded: it requests nothing.
        (tick, *_) = _wait("a finished tick of the file sensor", finished_tick, 300, log)
        assert tick["status"] == "SKIPPED" and tick["runIds"] == [], tick
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        stopped_at = time.monotonic()
        # Everything the demo started (its own process included) must be gone within 15 s.
        while (left := leftovers.carrying(token, MARKER)) and time.monotonic() - stopped_at < 15:
            time.sleep(0.5)
        seconds = time.monotonic() - stopped_at
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        leftovers.settle_and_kill(token, grace=0, variable=MARKER)
    assert left == [], f"still running {seconds:.0f}s after Ctrl-C: {left}\n{log.read_text()[-3000:]}"
    print(f"everything stopped {seconds:.1f}s after Ctrl-C")
    after = _run_statuses(state)
    assert set(after) == set(before), "the UI's daemon started runs after the demo"
    assert not [
        r for r, s in after.items() if s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
    ]
