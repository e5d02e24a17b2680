"""Partitions of the file load launched as separate runs in parallel OS processes against one Dagster instance
(SQLite storage, which supports concurrency pools): with the `warehouse` pool limited to 1 the load steps never
overlap and every run succeeds; without the limit the same launch runs the DuckDB writers at the same time."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from files_support import data_lines, partition_counts

DAYS = ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
STEP = "raw_files__sales"
CHILD = """
import sys, time
from pathlib import Path
import dagster as dg
from files_support import file_defs, run_range

day, barrier = sys.argv[1], Path(sys.argv[2])
with file_defs() as defs:
    defs.resolve_job_def("load_raw_files__sales")  # build everything before the start line
    (barrier / f"ready-{day}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.01)
    result = run_range(defs, day, instance=dg.DagsterInstance.get())
sys.exit(0 if result.success else 1)
"""


def _launch_in_parallel(home: Path, barrier: Path) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(Path(__file__).parent)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, day, str(barrier)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for day in DAYS
    ]  # fmt: skip
    deadline = time.monotonic() + 180
    while len(list(barrier.glob("ready-*"))) < len(DAYS):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "children did not start"
        time.sleep(0.05)
    (barrier / "go").touch()  # every run starts at the same moment
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    return [
        subprocess.CompletedProcess(p.args, p.returncode, out) for p, out in zip(procs, outputs, strict=True)
    ]


def _step_intervals(home: Path) -> dict[str, tuple[float, float, str]]:
    """Per run: (load step started, load step ended, run status) from the instance's event log."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        out = {}
        for run in instance.get_runs():
            times = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if (
                    event
                    and event.step_key == STEP
                    and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")
                ):
                    times[event.event_type_value] = entry.timestamp
            end = times.get("STEP_SUCCESS", times.get("STEP_FAILURE"))
            out[run.tags["dagster/asset_partition_range_start"]] = (
                times["STEP_START"],
                end,
                run.status.value,
            )
        return out


def _overlaps(intervals) -> list[tuple[str, str]]:
    items = sorted(intervals.items(), key=lambda kv: kv[1][0])
    return [(a, b) for i, (a, (s1, e1, _)) in enumerate(items) for b, (s2, _, _) in items[i + 1 :] if s2 < e1]


def _home(tmp_path: Path, name: str, limit: int | None) -> Path:
    home = tmp_path / name
    home.mkdir()
    pools = f"concurrency:\n  pools:\n    default_limit: {limit}\n" if limit else ""
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + pools)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs()  # creates and migrates the SQLite storage once, not in four processes at a time
    return home


def test_parallel_partition_runs_take_turns_in_the_warehouse_pool(platform_env, landing_folder, tmp_path):
    home, barrier = _home(tmp_path, "pooled", limit=1), tmp_path / "barrier-pooled"
    barrier.mkdir()
    started = time.monotonic()
    done = _launch_in_parallel(home, barrier)
    elapsed = time.monotonic() - started
    assert all(p.returncode == 0 for p in done), "\n".join(p.stdout[-3000:] for p in done if p.returncode)
    intervals = _step_intervals(home)
    assert sorted(intervals) == DAYS
    assert {status for _, _, status in intervals.values()} == {"SUCCESS"}
    assert _overlaps(intervals) == [], intervals  # one writer at a time
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1
    expected = {d: data_lines(landing_folder / "sales" / f"{d}.csv") for d in DAYS}
    assert partition_counts(platform_env) == expected
    print(f"4 parallel runs, pool limit 1: {elapsed:.1f}s, steps {sorted(intervals.values())}")


def test_without_the_pool_limit_the_same_launch_writes_concurrently(platform_env, landing_folder, tmp_path):
    """The control: the serialization above comes from the pool. Without a limit the four load steps run at
    the same time on one DuckDB file (they then contend for its lock: the warehouse resource waits for it)."""
    home, barrier = _home(tmp_path, "unpooled", limit=None), tmp_path / "barrier-unpooled"
    barrier.mkdir()
    done = _launch_in_parallel(home, barrier)
    intervals = _step_intervals(home)
    assert sorted(intervals) == DAYS
    assert _overlaps(intervals), intervals
    print("without the pool:", {d: s for d, (_, _, s) in intervals.items()}, [p.returncode for p in done])
