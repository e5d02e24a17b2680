"""The file schedule under the real Dagster daemon: a code location declared in YAML (a temporary project with
one FileIngestionComponent whose schedule fires three minutes from now), `dagster-daemon run` on a temporary
instance, and the landing file of the day that will just have ended. The daemon's scheduler ticks at the
declared time and its run launches the partition of that day, which it loads; a second instance of the same
tick is not needed: the "skipped when loaded" path is covered without the daemon in test_file_ingestion.py.

Every wait ends on a terminal state (a finished tick, a finished run); the processes are stopped afterwards,
also when the test fails."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.scheduler.instigation import TickStatus  # not exported by `dagster`
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.landing import write_landing
from dataplat_sandbox.processes import stop_groups, wait_until
from files_support import ATTRIBUTES

SCHEDULE = "raw_files__sales_daily"
TERMINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)

LOCATION = """import dagster as dg
from pathlib import Path
from dataplat_core.definitions import platform_definitions

defs = platform_definitions(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
"""


def _project(root: Path, tick: datetime, day: str) -> Path:
    """A dg project whose one component declares the schedule at `tick` (UTC) and partitions around `day`."""
    (root / "schedloc" / "defs" / "sales").mkdir(parents=True)
    (root / "schedloc" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "schedloc"\nversion = "0"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "schedloc"\n'
    )
    start = datetime.fromisoformat(day).date() - timedelta(days=2)
    attributes = {
        **ATTRIBUTES,
        "partition_start_date": start.isoformat(),
        "partition_end_date": (start + timedelta(days=5)).isoformat(),
        "schedule": {"default_status": "running", "hour_of_day": tick.hour, "minute_of_hour": tick.minute},
    }
    (root / "schedloc" / "defs" / "sales" / "defs.yaml").write_text(
        yaml.safe_dump(
            {
                "type": "dataplat_snowflake_ingestion.components.FileIngestionComponent",
                "attributes": attributes,
            }
        )  # fmt: skip
    )
    (root / "location.py").write_text(LOCATION)
    workspace = {"load_from": [{"python_file": {"relative_path": "location.py", "working_directory": ".",
                                                "location_name": "files"}}]}  # fmt: skip
    (root / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return root / "workspace.yaml"


def test_the_daemons_schedule_tick_launches_the_partition_of_the_day_that_just_ended(
    platform_env, tmp_path, monkeypatch
):
    # Three minutes ahead, on the minute: the daemon and the code location are up well before the tick, also on
    # a busy machine (checked below: a tick the scheduler was not running for would never come).
    tick = (datetime.now(UTC) + timedelta(minutes=3)).replace(second=0, microsecond=0)
    day = (tick.date() - timedelta(days=1)).isoformat()  # the day that has just ended at the tick
    landing = tmp_path / "landing"
    write_landing(landing, SandboxConfig(orders=200, start_date=tick.date() - timedelta(days=1), days=1))
    workspace = _project(tmp_path / "project", tick, day)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = {**os.environ, "LANDING_URL": str(landing), "DAGSTER_HOME": str(home)}
    # The instance's SQLite storage is created here, before the daemon starts: two processes creating it at once
    # race on its schema ("table alembic_version already exists", seen on a loaded machine).
    dg.DagsterInstance.get().dispose()
    daemon_log = tmp_path / "daemon.log"
    with open(daemon_log, "w") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
            cwd=workspace.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        with dg.DagsterInstance.get() as instance:
            wait_until("the scheduler daemon's first heartbeat", lambda: "SCHEDULER" in instance.get_daemon_heartbeats(),
                       max((tick - datetime.now(UTC)).total_seconds(), 1), interval=1)  # fmt: skip

            def tick_finished():
                ticks = [
                    t
                    for state in instance.all_instigator_state()
                    if state.name == SCHEDULE
                    for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5)
                    if t.status != TickStatus.STARTED
                ]
                return ticks or None

            wait = (tick - datetime.now(UTC)).total_seconds() + 300
            (finished,) = wait_until(
                f"the schedule's tick at {tick:%H:%M} UTC", tick_finished, wait, interval=3
            )
            assert finished.status == TickStatus.SUCCESS, (finished.status, finished.error)
            assert finished.timestamp >= tick.timestamp()

            def run_finished():
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
                return runs if runs and all(r.status in TERMINAL for r in runs) else None

            (run,) = wait_until("the scheduled run", run_finished, 600)
            assert run.tags["dagster/partition"] == day
            assert run.status == dg.DagsterRunStatus.SUCCESS, daemon_log.read_text()[-3000:]
            record = instance.get_latest_materialization_event(dg.AssetKey(["raw_files", "sales"]))
            assert record is not None and record.asset_materialization.partition == day
    finally:
        stop_groups([daemon], grace=20)
